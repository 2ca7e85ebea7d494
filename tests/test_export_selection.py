"""Which rows an export holds, found without drawing rows it cannot hold."""

from __future__ import annotations

from lbmock.export import ExportFilters, ExportScope, selected_rows
from lbmock.strategies import seeded_world
from lbmock.strategies.served_world import SeededRows


def test_an_export_of_named_data_rows_draws_only_those_rows(monkeypatch):
    """``DataRow.export(data_rows=[...])`` on a big world: the ids name their rows' indices, so only
    those rows are drawn, and the selection is what a full scan finds (foreign and unknown ids,
    a row outside the project, and other filters still apply)."""
    world = seeded_world(4, 3000, n_projects=2)
    wanted = [world.row(i) for i in (2999, 7, 1500, 7)]
    ids = frozenset({*(row.id for row in wanted), "cl0000000000000000000000z", "not-an-id"})
    cases = [(ExportFilters(data_row_ids=ids), None),
             (ExportFilters(data_row_ids=ids, statuses=frozenset({wanted[0].primary.status})), None),
             (ExportFilters(data_row_ids=ids), ExportScope(project_id=world.projects[1].id)),
             (ExportFilters(data_row_ids=ids), ExportScope())]
    small = seeded_world(4, 3000, n_projects=2)  # the same world, scanned row by row for the expectation
    expected = [[row.id for row in small.rows if f.matches(row, (scope or ExportScope(world.project.id)).project_id)]
                for f, scope in cases]
    drawn = []
    original = SeededRows.__getitem__
    monkeypatch.setattr(SeededRows, "__getitem__", lambda self, i: drawn.append(i) or original(self, i))
    for (filters, scope), ids_expected in zip(cases, expected, strict=True):
        drawn.clear()
        got = [row.id for row in selected_rows(world, filters, scope)]
        assert got == ids_expected
        assert len(set(drawn)) <= 3, f"{len(set(drawn))} rows drawn to find 3"
    assert expected[0] == [wanted[1].id, wanted[2].id, wanted[0].id]  # world order


def test_rows_drawn_for_an_export_pass_are_the_rows_without_their_dicom_series_or_mask_shapes():
    """An export renders no DICOM and no mask (it links to masks), so its pass leaves each row's
    series and mask shapes undrawn (each drawn apart: every other value is the same, polylines
    too), and a use of either fails loudly instead of passing unseen."""
    import dataclasses

    import pytest

    from lbmock.world import MASK_NOT_DRAWN, SERIES_NOT_DRAWN, MaskShape

    def without_mask_shapes(row):
        def label(lb):
            return dataclasses.replace(lb, features=tuple(dataclasses.replace(f, segments=tuple(
                tuple(dataclasses.replace(kf, geometry=MASK_NOT_DRAWN) if isinstance(kf.geometry, MaskShape) else kf
                      for kf in seg) for seg in f.segments)) for f in lb.features))
        return dataclasses.replace(row, memberships=tuple(
            dataclasses.replace(m, labels=tuple(label(lb) for lb in m.labels)) for m in row.memberships))

    world = seeded_world(8, 50, n_projects=2, dicom_variants=("oblique",))
    masks = 0
    for index in range(50):
        whole, in_pass = world.row(index), world.row_in_pass(index)
        assert in_pass.series is SERIES_NOT_DRAWN and whole.series.sop_uid
        assert dataclasses.replace(without_mask_shapes(whole), series=SERIES_NOT_DRAWN) == in_pass
        shapes = [kf.geometry for m in in_pass.memberships for lb in m.labels for f in lb.features
                  for kf in f.keyframes if f.tool.kind == "mask"]
        assert all(g is MASK_NOT_DRAWN for g in shapes)
        masks += len(shapes)
        with pytest.raises(AttributeError, match="without its DICOM series"):
            _ = in_pass.series.geometry
        for geometry in shapes[:1]:
            with pytest.raises(AttributeError, match="without its mask shape"):
                _ = geometry.cx
    assert masks >= 10  # the pass met masks, on both projects' labels
