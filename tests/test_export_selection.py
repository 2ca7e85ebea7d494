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


def test_rows_drawn_for_an_export_pass_are_the_rows_without_their_dicom_series():
    """An export renders no DICOM, so its pass leaves each row's series undrawn (the last draw of
    a row: every other value is the same), and a use of it fails loudly instead of passing unseen."""
    import dataclasses

    import pytest

    from lbmock.world import SERIES_NOT_DRAWN

    world = seeded_world(8, 50, n_projects=2, dicom_variants=("oblique",))
    for index in (0, 17, 49):
        whole, in_pass = world.row(index), world.row_in_pass(index)
        assert in_pass.series is SERIES_NOT_DRAWN and whole.series.sop_uid
        assert dataclasses.replace(whole, series=SERIES_NOT_DRAWN) == in_pass
        with pytest.raises(AttributeError, match="without its DICOM series"):
            _ = in_pass.series.geometry
