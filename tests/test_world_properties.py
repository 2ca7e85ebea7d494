"""Invariants of generated worlds, each held by construction and checked here."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lbmock.ids import is_labelbox_id, row_index_of
from lbmock.labelmap import rasterise
from lbmock.people import person_pool
from lbmock.png import decode_png
from lbmock.render.common import Urls
from lbmock.render.masks import render_mask_png
from lbmock.render.v2 import ExportParams, render_export_v2_row
from lbmock.strategies import worlds
from lbmock.world import PLANES, MaskShape, Polyline, WorkflowStatus, World

URLS = Urls()


def all_ids(world: World) -> list[str]:
    """Every cuid-shaped id a world mints (projects, slices, and per row in every project)."""
    out = [world.project.organization.id, world.project.embedding_id, *(d.id for d in world.datasets),
           *(s.id for s in world.slices)]
    for p in world.projects:
        out += [p.id, p.ontology.id, *(x.id for x in p.people if p is world.project or x != p.owner)]
        for tool in p.ontology.tools:
            out.append(tool.schema_id)
            for q in tool.classifications:
                out += [q.schema_id, *(o.schema_id for o in q.options), *(o.feature_id for o in q.options)]
        for q in p.ontology.classifications:
            out += [q.schema_id, *(o.schema_id for o in q.options), *(o.feature_id for o in q.options)]
    for row in world:
        out += [row.id, *(a.id for a in row.attachments)]
        for lb in row.all_labels:
            out += [lb.id, *(r.id for r in lb.reviews), *(a.feature_id for a in lb.classifications)]
            out += [fc.answer.feature_id for fc in lb.frame_classifications]
            for f in lb.features:
                out.append(f.feature_id)
                out += [a.feature_id for kf in f.keyframes for a in kf.classifications]
    return out


@given(worlds(max_rows=4, object_classifications=True))  # nested answers mint ids too
def test_ids_are_unique_labelbox_cuids_naming_their_row(world):
    ids = all_ids(world)
    assert len(ids) == len(set(ids))
    assert all(is_labelbox_id(i) and len(i) == 25 and i[0] == "c" for i in ids)
    for row in world:
        assert row_index_of(row.id) == row.index
        for lb in row.all_labels:
            assert row_index_of(lb.id) == row.index
            assert all(row_index_of(f.feature_id) == row.index for f in lb.features)


@given(worlds(max_rows=4))
def test_planes_frames_and_points_stay_inside_the_volume(world):
    for row in world:
        for lb in row.labels:
            for f in lb.features:
                assert f.plane in PLANES
                plane = row.volume.plane(f.plane)
                for frame, geometry, _key, _ in f.frames(interpolated=True):
                    assert 1 <= frame <= plane.frame_count
                    if isinstance(geometry, Polyline):
                        assert all(0 <= x <= plane.width and 0 <= y <= plane.height for x, y in geometry.points)
                    else:
                        assert 0 <= geometry.cx < plane.width and 0 <= geometry.cy < plane.height
            for fc in lb.frame_classifications:
                assert fc.plane in PLANES
                assert 1 <= fc.frame <= row.volume.plane(fc.plane).frame_count


@given(worlds(min_rows=1, max_rows=3), st.booleans())
def test_segments_cover_keyframes_and_key_frame_map_names_the_objects(world, interpolated):
    params = ExportParams(interpolated_frames=interpolated)
    for row in world:
        out = render_export_v2_row(world.project, row, params, URLS)
        for label in out["projects"][world.project.id]["labels"]:
            ann = label["annotations"]
            in_frames = {fid for g in ann["groups"].values() for fr in g["frames"].values() for fid in fr["objects"]}
            assert set(ann["key_frame_feature_map"]) == in_frames
            for fid, planes in ann["key_frame_feature_map"].items():
                (plane,) = [p for p, frames in planes.items() if frames]
                ranges = ann["segments"][plane][fid]
                for key in planes[plane]:
                    assert any(a <= int(key) <= b for a, b in ranges)
                    assert fid in ann["groups"][plane]["frames"][key]["objects"]
                if interpolated:  # every frame of every segment is present
                    for a, b in ranges:
                        for n in range(a, b + 1):
                            assert fid in ann["groups"][plane]["frames"][str(n)]["objects"]


@given(worlds(max_rows=5))
def test_timestamps_are_ordered(world):
    assert world.project.created_at <= world.project.updated_at
    for row in world:
        times = [e.created_at for e in row.history]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert world.project.created_at <= row.created_at <= row.updated_at <= row.last_activity_at
        assert row.created_at < row.history[0].created_at
        for lb in row.labels:
            assert row.history[0].created_at <= lb.created_at <= lb.updated_at <= row.last_activity_at
            assert all(lb.created_at <= r.created_at for r in lb.reviews)


EXPECTED_LAST_TASK = {
    WorkflowStatus.TO_LABEL: "Initial labeling task",
    WorkflowStatus.IN_REVIEW: "Initial review task",
    WorkflowStatus.IN_REWORK: "Rework (all rejected)",
}


@given(worlds(max_rows=6))
def test_workflow_history_ends_in_the_status_and_labels_follow_it(world):
    for row in world:
        last = row.history[-1]
        if row.status == WorkflowStatus.DONE:
            assert last.action == "APPROVE" and last.next_task is None
        else:
            assert last.next_task.name == EXPECTED_LAST_TASK[row.status]
        assert (len(row.labels) == 0) == (row.status == WorkflowStatus.TO_LABEL)
        for a, b in zip(row.history, row.history[1:], strict=False):
            assert a.next_task == b.previous_task  # the history is a connected walk


@given(worlds(max_rows=4))
def test_people_come_from_faker(world):
    pool = {email for _, email in person_pool()}
    people = {p.email for p in world.project.people}
    assert people <= pool
    for row in world:
        assert row.created_by.email in people
        assert all(e.created_by.email in people for e in row.history)
        assert all(lb.created_by.email in people for lb in row.labels)


@given(worlds(min_rows=1, max_rows=3))
def test_masks_are_non_empty_binary_images_of_the_plane(world):
    for row in world:
        for lb in row.labels:
            for f in lb.features:
                for kf in f.keyframes:
                    if not isinstance(kf.geometry, MaskShape):
                        continue
                    plane = row.volume.plane(f.plane)
                    pixels = decode_png(render_mask_png(kf.geometry, plane)).pixels
                    assert pixels.shape == (plane.height, plane.width)
                    assert set(pixels.ravel().tolist()) <= {0, 255}
                    assert pixels.any()
                    assert (pixels == rasterise(kf.geometry, plane)).all()


def test_shipped_name_pools_are_fakers_output():
    from lbmock.people import (
        company_pool,
        faker_company_pool,
        faker_person_pool,
        faker_word_pool,
        person_pool,
        word_pool,
    )

    assert person_pool() == faker_person_pool()
    assert word_pool() == faker_word_pool()
    assert company_pool() == faker_company_pool()
