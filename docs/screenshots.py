"""Regenerate the dashboard screenshots in the README (docs/dashboard-*.png).

    python docs/screenshots.py          # needs '.[test]' (Playwright, labelbox) and Debian's chromium

A real ``ThreadedMockServer`` on loopback, the real labelbox SDK running one export against it
(so the overview has a journal and a task), and headless Chromium at 1280x800 through the same
harness the browser tests use (tests/browser_harness.py).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import browser_harness  # noqa: E402
import labelbox as lb  # noqa: E402

from lbmock.labelmap import choose_label, rasterise  # noqa: E402
from lbmock.mockserver import ThreadedMockServer  # noqa: E402
from lbmock.strategies import seeded_world  # noqa: E402

WORLD = seeded_world(10, 200)  # four tools: two masks, two polylines
IMAGES_LOADED = "() => Array.from(document.images).every(img => img.complete && img.naturalWidth > 0)"


def main() -> int:
    reason = browser_harness.unavailable_reason()
    if reason:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 1
    # The row and Axial frame whose mask is the largest: the overlay is easy to see.
    _area, row, frame = max(((int(rasterise(kf.geometry, r.volume.plane("Axial")).astype(bool).sum()), r, kf.frame)
                             for r in WORLD if (label := choose_label(r, None))
                             for f in label.features if f.tool.kind == "mask" and f.plane == "Axial"
                             for kf in f.keyframes), key=lambda found: found[0])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with ThreadedMockServer(WORLD) as server, browser_harness.BrowserSession() as browser:
        project = lb.Client(**server.client_kwargs).get_project(WORLD.project.id)
        task = project.export(params={"label_details": True, "project_details": True},
                              filters={"workflow_status": "Done"})
        task.wait_till_done()
        task.get_buffered_stream().start(stream_handler=lambda output: None)
        # one export still running and one fault in force, so the overview shows both
        server.backend.state_manager.set_transition("export-task", {"progression": "manual", "times": 100})
        project.export(params={"label_details": True}, task_name="still running")
        server.backend.faults.add("rate-limit", 2, times=3)
        page = browser.new_page()
        shots = {"dashboard-overview.png": f"{server.base_url}/_mock/dashboard/",
                 "dashboard-row.png": f"{server.base_url}/_mock/dashboard/rows/{row.id}?axial={frame}"}
        for name, url in shots.items():
            page.goto(url)
            page.wait_for_function(IMAGES_LOADED)
            page.screenshot(path=str(HERE / name))
            print(f"wrote docs/{name}")
        page.context.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
