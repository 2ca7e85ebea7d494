"""The README's worked example: a @given test over served worlds finds the
consumer's off-by-one and shrinks it to a minimal world."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from lbmock.mockserver import mock_labelbox
from lbmock.render.common import Urls
from lbmock.render.v2 import ExportParams, render_export_v2_row
from lbmock.strategies import worlds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from axial_volume import axial_mask_volume


# --8<-- [start:readme-test]
@settings(max_examples=200, derandomize=True, deadline=None, database=None, report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(worlds(min_rows=1, max_rows=1))
def check_axial_volume_holds_every_axial_mask(world):
    with mock_labelbox(world) as lb:  # serves this drawn world on api.labelbox.com
        for row in world:
            export_row = render_export_v2_row(world.project, row, ExportParams(), Urls())
            v = row.volume
            volume = axial_mask_volume(export_row, world.project.id, (v.slices, v.rows, v.cols), lb.api_key)
            for label in row.labels:
                for f in label.features:
                    if f.plane == "Axial" and f.tool.kind == "mask":
                        for kf in f.keyframes:  # each mask lands on its own slice
                            assert volume[kf.frame - 1].any(), f"slice of frame {kf.frame} is empty"
# --8<-- [end:readme-test]


def test_hypothesis_finds_and_shrinks_the_off_by_one():
    # Named check_* so pytest does not collect the deliberately failing property itself.
    with pytest.raises((IndexError, AssertionError)) as caught:
        check_axial_volume_holds_every_axial_mask()
    report = "\n".join(getattr(caught.value, "__notes__", []))
    # Shrunk to one row whose only feature is an Axial mask on frame 1.
    assert "plane='Axial'" in report and "Keyframe(frame=1" in report
    assert report.count("Feature(") == 1
    print(report)
