"""Strategies for rendered payloads: what a consumer of exports actually reads.

Each draws a world first, then renders it with the same renderers the
server uses, so a failing test shrinks the *world* and the payload follows.
"""

from __future__ import annotations

from hypothesis import strategies as st

from lbmock.render.common import Urls
from lbmock.render.frames import render_frame_records
from lbmock.render.legacy import render_legacy_row
from lbmock.render.v2 import ExportParams, render_export_v2_row
from lbmock.strategies.rows import worlds
from lbmock.world import PLANES, MaskShape

DEFAULT_URLS = Urls()


def export_params() -> st.SearchStrategy[ExportParams]:
    """Any combination of the export v2 include flags."""
    return st.builds(ExportParams, **{name: st.booleans() for name in ExportParams.names()})


@st.composite
def export_v2_rows(draw: st.DrawFn, params: ExportParams | None = None, urls: Urls = DEFAULT_URLS) -> dict:
    """One export v2 row (a dict), with ``params`` or any drawn combination: a project export's
    row, or (when the world has several projects) a catalog-side one showing each project of the row."""
    world = draw(worlds(min_rows=1, max_rows=1))
    chosen = params if params is not None else draw(export_params())
    shown = world.projects if len(world.projects) > 1 and draw(st.booleans()) else world.project
    return render_export_v2_row(shown, world.row(0), chosen, urls)


@st.composite
def legacy_rows(draw: st.DrawFn, urls: Urls = DEFAULT_URLS) -> dict:
    """One legacy ``export_labels`` object, for a labelled data row."""
    world = draw(worlds(min_rows=1, max_rows=3))
    labelled = [(row, lb) for row in world for lb in row.labels]
    if not labelled:  # no labelled row drawn: rendering one from a fresh draw keeps this filter-free
        world = draw(worlds(min_rows=1, max_rows=1).filter(lambda w: bool(w.row(0).labels)))
        labelled = [(world.row(0), world.row(0).labels[0])]
    row, label = draw(st.sampled_from(labelled))
    return render_legacy_row(world.project, row, label, urls)


@st.composite
def frame_records(draw: st.DrawFn, urls: Urls = DEFAULT_URLS) -> list[dict]:
    """The per-frame records of one label and plane (possibly none)."""
    world = draw(worlds(min_rows=1, max_rows=2))
    labels = [lb for row in world for lb in row.labels]
    if not labels:
        return []
    label = draw(st.sampled_from(labels))
    return list(render_frame_records(label, draw(st.sampled_from(PLANES)), urls))


@st.composite
def mask_pngs(draw: st.DrawFn) -> tuple[bytes, int, int]:
    """``(png, width, height)`` of one mask keyframe of a drawn world."""
    from lbmock.render.masks import render_mask_png  # numpy: imported only when masks are drawn

    world = draw(worlds(min_rows=1, max_rows=3))
    masks = [(row, f, kf) for row in world for lb in row.labels for f in lb.features
             for kf in f.keyframes if isinstance(kf.geometry, MaskShape)]
    if not masks:
        from lbmock.strategies.annotations import mask_shapes, volumes

        volume = draw(volumes())
        plane = volume.plane(draw(st.sampled_from(PLANES)))
        return render_mask_png(draw(mask_shapes(plane)), plane), plane.width, plane.height
    row, feature, kf = draw(st.sampled_from(masks))
    plane = row.volume.plane(feature.plane)
    return render_mask_png(kf.geometry, plane), plane.width, plane.height
