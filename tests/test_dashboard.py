"""The dashboard under /_mock/dashboard/: its pages answer with the world's facts, escape what
they show, and disappear with --no-admin (Flask test client; images decoded by Pillow, the DICOM
volume read by pydicom from the served row_data, masks fetched from the export's mask URLs)."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import mocks
import numpy as np
import pydicom
import pytest
from PIL import Image

from lbmock.cli import build_parser
from lbmock.export import ExportFilters
from lbmock.mockserver.backend.state_manager import Transition
from lbmock.mockserver.cli import _banner
from lbmock.mockserver.dashboard import NAV
from lbmock.render.common import Urls
from lbmock.render.legacy import render_legacy_row
from lbmock.render.v2 import ExportParams, render_export_v2_row
from lbmock.strategies.served_world import SeededRows, seeded_world
from lbmock.world import PLANES, WorkflowStatus, World
from lbmock.world_spec import WorldSpec

KEY = {"Authorization": "Bearer any-key"}

HOSTILE = '<img src=x onerror="alert(1)">&amp;'  # shown as text, never as markup


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """A page's visible text, links, its elements (tag, attributes) and each element's text
    (``texts[i]`` for ``elements[i]``)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text, self.links, self.elements, self.texts = "", [], [], []
        self._open: list[tuple[str, int]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self.texts.append("")
        if tag == "a" and "href" in dict(attrs):
            self.links.append(dict(attrs)["href"])
        if tag not in VOID:
            self._open.append((tag, len(self.elements) - 1))

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.text += data
        for _tag, i in self._open:
            self.texts[i] += data

    def find(self, **attrs: str) -> list[tuple[str, dict, str]]:
        """Elements whose attributes include ``attrs`` (``data_x`` for ``data-x``): (tag, attributes, text)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [(tag, a, self.texts[i]) for i, (tag, a) in enumerate(self.elements)
                if all(a.get(k) == v for k, v in wanted.items())]

    def text_of(self, **attrs: str) -> str:
        (found,) = self.find(**attrs)
        return found[2].strip()


def _get_page(client, url: str) -> Page:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "text/html"
    return Page(response.get_data(as_text=True))


def hostile_world(rows: int = 20) -> World:
    """A world whose project id, names, tools and datasets are markup."""
    base = seeded_world(3, 0)
    project = base.project
    tools = tuple(replace(t, name=f"{HOSTILE} {t.name}") for t in project.ontology.tools)
    datasets = tuple(replace(d, name=f"{HOSTILE} {d.name}") for d in project.datasets)
    project = replace(project, id=HOSTILE, name=HOSTILE, datasets=datasets,
                      ontology=replace(project.ontology, tools=tools))
    return World(project, SeededRows(project, 3, rows), seed=3, slices=tuple(
        replace(s, name=HOSTILE) for s in base.slices))


def test_overview_shows_the_world():
    world = seeded_world(1, 40, quality="consensus", n_projects=2, dicom_variants=["oblique"])
    client = mocks.flask_client(world)
    page = _get_page(client, "/_mock/dashboard/")
    for fact, value in (("seed", "1"), ("rows", "40"), ("quality", "consensus"), ("dicom-variants", "oblique")):
        assert page.text_of(data_fact=fact) == value
    for entity in (*world.projects, *world.datasets, *world.slices):
        assert entity.id in page.text and entity.name in page.text
    for tool in world.project.ontology.tools:
        assert tool.name in page.text


def test_mock_root_redirects_to_the_dashboard_and_nav_links_answer():
    client = mocks.flask_client(WorldSpec(seed=1, rows=3))
    response = client.get("/_mock/")
    assert response.status_code in (302, 303) and response.headers["Location"].endswith("/_mock/dashboard/")
    page = _get_page(client, "/_mock/dashboard/")
    nav_links = [attrs["href"] for tag, attrs in page.elements if tag == "a" and "href" in attrs][1:len(NAV) + 1]
    assert len(nav_links) == len(NAV)
    for link in nav_links:
        _get_page(client, link)
    for tag, attrs in page.elements:  # the CSS and JS ship with the package (no CDN)
        url = attrs.get("href") if tag == "link" else attrs.get("src") if tag == "script" else None
        if url and not url.startswith("data:"):
            assert url.startswith("/_mock/dashboard/static/")
            assert client.get(url).status_code == 200


def test_no_admin_removes_the_dashboard():
    client = mocks.flask_client(WorldSpec(seed=1, rows=3), admin=False)
    for url in ("/_mock/", "/_mock/dashboard/", "/_mock/dashboard/static/dashboard.css"):
        assert client.get(url).status_code == 404, url
    assert client.get("/_mock/health").status_code == 200
    assert "/_mock/dashboard/" not in client.get("/").get_data(as_text=True)


def test_hostile_names_are_text_not_markup():
    client = mocks.flask_client(hostile_world())
    response = client.get("/_mock/dashboard/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<img" not in html and 'onerror="' not in html
    assert HOSTILE in Page(html).text


def test_landing_page_and_banner_point_at_the_dashboard(capsys):
    args, app = mocks.serve_app("--rows", "3")
    page = Page(app.test_client().get("/").get_data(as_text=True))
    assert "/_mock/dashboard/" in page.links
    _banner(args, "http://127.0.0.1:8080", app.extensions["lbmock"].world, 3)
    assert "lbmock: dashboard http://127.0.0.1:8080/_mock/dashboard/" in capsys.readouterr().out
    quiet = build_parser().parse_args(["serve", "--rows", "3", "--no-admin"])
    _banner(quiet, "http://127.0.0.1:8080", app.extensions["lbmock"].world, 3)
    assert "dashboard" not in capsys.readouterr().out


@pytest.mark.parametrize("url", ["/_mock/dashboard/nothing-here", "/_mock/dashboard/static/none.css"])
def test_unknown_dashboard_urls_are_404(url):
    assert mocks.flask_client(WorldSpec(seed=1, rows=3)).get(url).status_code == 404


# ---------------------------------------------------------------- overview: counts, tasks, faults, journal


def test_overview_counts_tasks_faults_and_journal():
    world = seeded_world(2, 120, n_projects=2)
    app = mocks.app(world, transitions={"export-task": Transition.manual(5)})
    be, client = app.extensions["lbmock"], app.test_client()
    task = be.create_export("some-key", ExportParams(), ExportFilters(), Urls(), "my export", True,
                            int(time.time() * 1000))
    be.faults.add("rate-limit", 7, 2)
    client.post("/graphql", json={"query": "{ user { id } }"}, headers=KEY)  # journaled
    page = _get_page(client, "/_mock/dashboard/")
    for project in world.projects:
        members = [r.in_project(project.id) for r in world if r.in_project(project.id) is not None]
        for status in WorkflowStatus:
            shown = [t for tag, a, t in _row_cells(page, project.id) if a.get("data-status") == status.value]
            assert shown == [f"{sum(m.status is status for m in members):,}"], (project.id, status)
        labelled = [t for tag, a, t in _row_cells(page, project.id) if "data-labelled" in a]
        assert labelled == [f"{sum(bool(m.labels) for m in members):,}"]
    assert task.id in page.text_of(data_task=task.id) and "my export" in page.text
    assert "rate-limit" in page.text_of(data_fault="rate-limit") and "arg 7" in page.text
    assert "/graphql" in page.text_of(id="journal-tail")


def _row_cells(page: Page, project_id: str) -> list[tuple[str, dict, str]]:
    """The cells of the status table's row of ``project_id``."""
    start = next(i for i, (tag, a) in enumerate(page.elements) if tag == "tr" and a.get("data-project") == project_id)
    out = []
    for i in range(start + 1, len(page.elements)):
        tag, attrs = page.elements[i]
        if tag == "tr":
            break
        if tag == "td":
            out.append((tag, attrs, page.texts[i].strip()))
    return out


# ---------------------------------------------------------------- data rows: filters and pages


def _expected(world: World, project_index: int = 0, status=None, labelled=None, plane=None, tool=None) -> list[str]:
    """The ids a filter must list, straight from the world (brute force)."""
    project = world.projects[project_index]
    out = []
    for row in world:
        m = row.in_project(project.id)
        if m is None or (status is not None and m.status.value != status):
            continue
        if labelled is not None and bool(m.labels) != labelled:
            continue
        features = [f for lb in m.labels for f in lb.features]
        if (plane or tool) and not any((plane is None or f.plane == plane) and (tool is None or f.tool.name == tool)
                                       for f in features):
            continue
        out.append(row.id)
    return out


def _listed(client, query: str) -> tuple[list[str], str]:
    """Every row id the listing shows for ``query``, following Next links; and the first page's summary."""
    ids, url, summary = [], f"/_mock/dashboard/rows?{query}", None
    while url:
        page = _get_page(client, url)
        summary = summary or page.text_of(id="rows-summary")
        ids += [a["data-row-id"] for tag, a in page.elements if tag == "tr" and "data-row-id" in a]
        nxt = page.find(id="page-next")
        url = nxt[0][1]["href"] if nxt else None
    return ids, summary


@pytest.mark.parametrize("project_index", [0, 1])
def test_row_filters_and_pages_list_exactly_the_worlds_rows(project_index):
    world = seeded_world(5, 150, quality="consensus", n_projects=2)
    client = mocks.flask_client(world)
    project = world.projects[project_index]
    tools = [t.name for t in project.ontology.tools]
    cases = [{}, {"status": "Done"}, {"labelled": True}, {"labelled": False}, {"plane": "Sagittal"},
             {"tool": tools[-1]}, {"status": "InReview", "plane": "Axial", "tool": tools[0]}]
    for case in cases:
        args = {"project": project.id if project_index else None, "size": 9, "status": case.get("status"),
                "labels": {True: "yes", False: "no"}.get(case.get("labelled")), "plane": case.get("plane"),
                "tool": case.get("tool")}
        query = "&".join(f"{k}={v}" for k, v in args.items() if v is not None)
        wanted = _expected(world, project_index, **case)
        ids, summary = _listed(client, query)
        assert ids == wanted, case
        assert f"{len(wanted):,} matching" in summary, (case, summary)


def test_a_page_of_a_large_world_draws_only_its_rows():
    world = seeded_world(1, 100_000)
    client = mocks.flask_client(world)
    page = _get_page(client, "/_mock/dashboard/rows?page=1000&size=20")
    shown = [a["data-index"] for tag, a in page.elements if tag == "tr" and "data-index" in a]
    assert shown == [str(i) for i in range(19_980, 20_000)]
    assert "100,000 matching" in page.text_of(id="rows-summary")
    assert len(world.rows._cache) <= 20  # nothing but the page was drawn


def test_filtered_page_of_a_large_world_is_exact_while_the_index_grows():
    world = seeded_world(4, 5_000)
    client = mocks.flask_client(world)
    page = _get_page(client, "/_mock/dashboard/rows?status=Done&plane=Coronal&size=5")
    ids = [a["data-row-id"] for tag, a in page.elements if tag == "tr" and "data-row-id" in a]
    first = []
    for row in world:  # the first five matches, in world order
        if row.status is WorkflowStatus.DONE and any(f.plane == "Coronal" for lb in row.labels for f in lb.features):
            first.append(row.id)
            if len(first) == 5:
                break
    assert ids == first[:len(ids)] and ids  # a page is never wrong, only perhaps short while indexing
    assert page.find(id="page-next")  # more to come (or not yet known)


@pytest.mark.parametrize("query", ["status=Approved", "plane=Top", "tool=Nope", "project=nope", "labels=maybe",
                                   "page=0", "page=x", "size=1000", "page=%C2%B2"])
def test_bad_row_filters_are_400_with_a_message(query):
    response = mocks.flask_client(WorldSpec(seed=1, rows=5)).get(f"/_mock/dashboard/rows?{query}")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "must be" in Page(response.get_data(as_text=True)).text


# ---------------------------------------------------------------- one row: planes, sliders, JSON


def _small_labelled_row(world: World, planes: int = 2):
    """A row with a small volume and features on at least ``planes`` planes."""
    rows = [r for r in world if r.labels and len({f.plane for f in r.labels[0].features}) >= planes]
    return min(rows, key=lambda r: r.volume.rows * r.volume.cols * r.volume.slices)


def test_row_view_shows_planes_sliders_keyframes_and_the_exported_json():
    world = seeded_world(1, 80, n_projects=2)
    client = mocks.flask_client(world)
    row = _small_labelled_row(world)
    label = row.labels[0]
    page = _get_page(client, f"/_mock/dashboard/rows/{row.id}")
    assert page.text_of(data_fact="row-id") == row.id
    for plane in PLANES:
        (tag, slider, _), = page.find(id=f"slider-{plane}")
        frames = row.volume.plane(plane).frame_count
        assert tag == "input" and slider["type"] == "range" and slider["aria-label"].startswith(plane)
        assert (slider["min"], slider["max"]) == ("1", str(frames))
        keyframes = sorted({kf.frame for f in label.features if f.plane == plane for kf in f.keyframes})
        assert slider["data-keyframes"] == ",".join(map(str, keyframes))
        assert int(slider["value"]) == (keyframes[0] if keyframes else (frames + 1) // 2)
        (_, image, _), = page.find(id=f"image-{plane}")
        assert f"/{plane}/{slider['value']}/image.png" in image["src"]
        assert client.get(image["src"]).status_code == 200
    for tool in {f.tool for f in label.features}:
        assert page.find(data_tool=tool.name, data_color=tool.color)  # the legend: the documented colour hook
    urls = Urls.served_at("http://localhost")  # the test client's base URL
    v2 = json.loads(page.text_of(id="v2-json").split("\n", 1)[1])
    assert "X-Lbmock-Signature=" in v2["data_row"]["row_data"]  # a working, signed link
    assert _unsigned(v2) == _unsigned(render_export_v2_row(world.projects, row, ExportParams.all(), urls))
    legacy = json.loads(page.text_of(id="legacy-json").split("\n", 1)[1])
    assert _unsigned(legacy) == _unsigned([render_legacy_row(world.project, row, lb, urls) for lb in row.labels])


def _unsigned(value: object) -> object:
    """``value`` (JSON) with signed URLs' queries dropped: the signature depends on the time."""
    if isinstance(value, dict):
        return {k: _unsigned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsigned(v) for v in value]
    if isinstance(value, str) and "X-Lbmock-Signature=" in value:
        return value.split("?", 1)[0]
    return value


def _row_volume(client, row_view_page: Page) -> pydicom.Dataset:
    """The row's DICOM file, fetched from the row_data URL the page's v2 JSON shows, read by pydicom."""
    v2 = json.loads(row_view_page.text_of(id="v2-json").split("\n", 1)[1])
    url = urlsplit(v2["data_row"]["row_data"])
    response = client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    return pydicom.dcmread(io.BytesIO(response.data))


def _window(real: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1, the linear VOI LUT function, to 8 bits."""
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    inside = ((real - (center - 0.5)) / (width - 1) + 0.5) * 255
    return np.where(real <= low, 0, np.where(real > high, 255, np.clip(np.rint(inside), 0, 255))).astype(np.uint8)


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_slice_images_are_the_served_volume_through_the_window(modality):
    # seed 12: masks and polylines, so structures and lines cross the Sagittal and Coronal sections
    world = seeded_world(12, 80, dicom_variants=["mr-rescale"] if modality == "MR" else [])
    client = mocks.flask_client(world)
    row = min((r for r in world if r.series.modality == modality and r.labels
               and {f.tool.kind for f in r.labels[0].features} == {"mask", "polyline"}),
              key=lambda r: r.volume.rows * r.volume.cols * r.volume.slices)
    ds = _row_volume(client, _get_page(client, f"/_mock/dashboard/rows/{row.id}"))
    shared = ds.SharedFunctionalGroupsSequence[0]
    transform = shared.PixelValueTransformationSequence[0]
    real = ds.pixel_array.astype(np.float64) * float(transform.RescaleSlope) + float(transform.RescaleIntercept)
    voi = shared.FrameVOILUTSequence[0]
    windows = {"soft-tissue": (40, 400), "bone": (400, 1800), "lung": (-600, 1500),
               "dicom": (float(voi.WindowCenter), float(voi.WindowWidth))}
    for plane in PLANES:
        frames = row.volume.plane(plane).frame_count
        for frame in range(1, frames + 1):  # every section through soft tissue, a few through every window
            section = {"Axial": lambda f=frame: real[f - 1], "Sagittal": lambda f=frame: real[:, :, f - 1],
                       "Coronal": lambda f=frame: real[:, f - 1, :]}[plane]()
            image = client.get(f"/_mock/dashboard/rows/{row.id}/{plane}/{frame}/image.png?window=soft-tissue")
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(image.data))), _window(section, 40, 400))
        for frame in sorted({1, (frames + 1) // 2, frames}):
            # file order: pixel_array is [frame k, row j, column i]; plane mapping from the README's table
            section = {"Axial": lambda f=frame: real[f - 1], "Sagittal": lambda f=frame: real[:, :, f - 1],
                       "Coronal": lambda f=frame: real[:, f - 1, :]}[plane]()
            for name, (center, width) in windows.items():
                response = client.get(f"/_mock/dashboard/rows/{row.id}/{plane}/{frame}/image.png?window={name}")
                assert response.status_code == 200 and response.mimetype == "image/png"
                image = Image.open(io.BytesIO(response.data))
                assert image.mode == "L" and image.size == (section.shape[1], section.shape[0])
                assert np.array_equal(np.asarray(image), _window(section, center, width)), (plane, frame, name)
            auto = np.asarray(Image.open(io.BytesIO(client.get(
                f"/_mock/dashboard/rows/{row.id}/{plane}/{frame}/image.png?window=auto").data)))
            assert auto.min() == 0 and auto.max() == 255  # the slice's range spans every grey level
            darker = section[:, :, None] < section.reshape(-1)[None, None, :: max(1, section.size // 200)]
            assert np.all(~darker | (auto[:, :, None] <= auto.reshape(-1)[None, None, :: max(1, auto.size // 200)]))


def _colour(hex_colour: str) -> tuple[int, int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255, 255


def test_overlays_are_the_exported_masks_in_the_tools_colours():
    world = seeded_world(12, 120)  # two mask and two polyline tools
    assert {t.kind for t in world.project.ontology.tools} == {"mask", "polyline"}
    client = mocks.flask_client(world)
    colours = {t.schema_id: t.color for t in world.project.ontology.tools}
    checked_masks = checked_lines = 0
    for row in [r for r in world if r.labels][:25]:
        # with interpolated frames: every frame a polyline is on (the overlay draws them all)
        v2 = render_export_v2_row(world.projects, row, ExportParams(interpolated_frames=True),
                                  Urls.served_at("http://localhost"))
        label = v2["projects"][world.project.id]["labels"][0]
        for plane, group in label["annotations"]["groups"].items():
            view = row.volume.plane(plane)
            for frame, slot in group["frames"].items():
                overlay = client.get(f"/_mock/dashboard/rows/{row.id}/{plane}/{frame}/overlay.png")
                assert overlay.status_code == 200
                got = np.asarray(Image.open(io.BytesIO(overlay.data)))
                assert got.shape == (view.height, view.width, 4)
                objects = list(slot["objects"].values())
                lines = [o for o in objects if "line" in o]
                if not lines:  # masks only: the overlay is exactly the export's masks, later over earlier
                    expected = np.zeros_like(got)
                    for obj in objects:
                        mask = client.get(urlsplit(obj["mask"]["url"]).path, headers=KEY)
                        assert mask.status_code == 200
                        expected[np.asarray(Image.open(io.BytesIO(mask.data))) > 0] = \
                            _colour(colours[obj["feature_schema_id"]])
                        checked_masks += 1
                    assert np.array_equal(got, expected), (row.id, plane, frame)
                for obj in lines:  # polylines on top: every vertex's pixel in the tool's colour
                    for point in obj["line"]:
                        x = min(int(point["x"]), view.width - 1)
                        y = min(int(point["y"]), view.height - 1)
                        assert tuple(got[y, x]) == _colour(colours[obj["feature_schema_id"]])
                    checked_lines += 1
    assert checked_masks > 10 and checked_lines > 5


# ---------------------------------------------------------------- bad input, hostile strings


def test_bad_row_plane_frame_window_and_label_are_4xx_never_5xx():
    world = seeded_world(1, 30)
    client = mocks.flask_client(world)
    row = next(r for r in world if r.labels)
    other = next(r for r in world if r.labels and r is not row)
    base = f"/_mock/dashboard/rows/{row.id}"
    frames = row.volume.plane("Axial").frame_count
    cases = {
        "/_mock/dashboard/rows/nope": 404, "/_mock/dashboard/rows/cl5uepadv0002zzg45l3r6npg": 404,
        f"/_mock/dashboard/rows/{row.labels[0].id}": 404,  # a label id is not a data row id
        f"{base}?label={other.labels[0].id}": 404, f"{base}?window=bright": 400, f"{base}?opacity=101": 400,
        f"{base}/Axial/0/image.png": 404, f"{base}/Axial/{frames + 1}/image.png": 404,
        f"{base}/Axial/-1/image.png": 404, f"{base}/Axial/x/image.png": 404, f"{base}/Top/1/image.png": 404,
        f"{base}/Axial/1/image.png?window=%3Cb%3E": 400, f"{base}/Axial/1/overlay.png?label=nope": 404,
        f"{base}/Axial/99999999999999999999999/image.png": 404, "/_mock/dashboard/rows/go?id=nope": 404,
        "/_mock/dashboard/rows/go": 404,
    }
    for url, status in cases.items():
        response = client.get(url)
        assert response.status_code == status, (url, response.status_code, response.data[:300])
        if url.endswith(".png") or ".png?" in url:
            assert response.is_json and response.json["error"]
    assert client.get(f"{base}/axial/1/image.png").status_code == 200  # plane names in any case
    go = client.get(f"/_mock/dashboard/rows/go?id={row.labels[0].id}")  # any id the row owns leads to it
    assert go.status_code == 302 and go.headers["Location"].endswith(f"/rows/{row.id}")


def test_hostile_strings_on_every_page_are_text():
    world = hostile_world(40)
    client = mocks.flask_client(world)
    row = next(r for r in world if r.labels)
    tool = quote(world.project.ontology.tools[0].name)
    urls = {"/_mock/dashboard/": 200, "/_mock/dashboard/rows": 200, f"/_mock/dashboard/rows?tool={tool}": 200,
            f"/_mock/dashboard/rows/{row.id}": 200, "/_mock/dashboard/rows?status=%3Cimg%20src%3Dx%3E": 400}
    for url, status in urls.items():
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == status, url
        assert "<img src=x" not in html and 'onerror="alert' not in html, url
    page = Page(client.get(f"/_mock/dashboard/rows/{row.id}").get_data(as_text=True))
    assert HOSTILE in page.text


def test_the_index_of_a_larger_world_completes_and_follows_a_new_world():
    from lbmock.mockserver.dashboard.row_index import SYNC_ROWS, index_of

    world = seeded_world(4, SYNC_ROWS + 500)
    app = mocks.app(world)
    client, be = app.test_client(), app.extensions["lbmock"]
    first = _get_page(client, "/_mock/dashboard/")  # starts the background index
    index = index_of(be, world)
    progress = first.find(id="index-progress")
    assert not progress or int(progress[0][1]["data-indexed"]) <= len(world)
    index.fill()  # what the background thread does, to the end
    page = _get_page(client, "/_mock/dashboard/")
    assert not page.find(id="index-progress")
    done = sum(r.status is WorkflowStatus.DONE for r in world)
    assert [t for _tag, a, t in _row_cells(page, world.project.id) if a.get("data-status") == "Done"] == [f"{done:,}"]
    ids, summary = _listed(client, "status=Done&size=200")
    assert len(ids) == done and f"{done:,} matching" in summary
    assert client.post("/_mock/world", json={"seed": 9, "rows": 12}).status_code == 200
    page = _get_page(client, "/_mock/dashboard/")  # a new world, a new index
    assert page.text_of(data_fact="rows") == "12" and page.text_of(data_fact="seed") == "9"
    assert index._stopped.is_set()
    ids, _ = _listed(client, "labels=no")
    assert ids == _expected(be.world, labelled=False)
