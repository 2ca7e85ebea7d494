"""row_data: each data row's DICOM file, served as storage serves it.

On ``lbmock serve`` (ThreadedMockServer) under ``<base>/storage``; in-process
(``lb_mock``) on Labelbox's storage host.  Signed and expiring, no
Authorization needed, GET/HEAD/Range, faults, and the bytes the writer makes.
"""

from __future__ import annotations

import io
import struct
import time
from urllib.parse import parse_qs, urlsplit

import labelbox
import mocks
import pydicom
import pytest
import requests
from sdk_streams import exported

from lbmock.contract_tests.wire import LEGACY_EXPORT, unsigned
from lbmock.dicom.part10 import file_size, header_bytes, part10_bytes
from lbmock.export import ExportFilters
from lbmock.mockserver.backend.tasks import RESULT
from lbmock.render.common import Urls, dicom_file_name
from lbmock.render.v2 import ExportParams
from lbmock.strategies.served_world import seeded_world
from lbmock.world_spec import WorldSpec

SEED, ROWS = 5, 12
SMALL = 3_000_000  # voxels: rows downloaded whole in these tests
pytestmark = pytest.mark.lb_world(seed=SEED, rows=ROWS)  # lb_mock / lb_server serve `world`


@pytest.fixture(scope="module")
def world():
    return seeded_world(SEED, ROWS)


def _exported(client_kwargs: dict, project_id: str) -> list[dict]:
    project = labelbox.Client(**client_kwargs).get_project(project_id)
    return exported(project, {"data_row_details": True})


def _small(world, rows: list[dict]) -> list[tuple[dict, object]]:
    by_id = {r.id: r for r in world}
    pairs = [(row, by_id[row["data_row"]["id"]]) for row in rows]
    return [(row, r) for row, r in pairs if r.volume.rows * r.volume.cols * r.volume.slices < SMALL]


@pytest.fixture(scope="module")
def served(world):
    with mocks.serving(world) as server:
        rows = _exported(server.client_kwargs, server.project_id)
        yield server, rows


def test_row_data_is_the_rows_dicom_file_on_the_server(served, world):
    server, rows = served
    checked = 0
    for row, world_row in _small(world, rows)[:3]:
        url = row["data_row"]["row_data"]
        assert url.startswith(f"{server.base_url}/storage/")
        resp = requests.get(url, timeout=30)  # no Authorization: the signature is the credential
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"] == "application/dicom"
        assert int(resp.headers["Content-Length"]) == len(resp.content) == file_size(world_row.series)
        assert resp.content == part10_bytes(world_row)  # the writer's bytes, streamed
        ds = pydicom.dcmread(io.BytesIO(resp.content))
        v = world_row.volume
        assert (int(ds.NumberOfFrames), ds.Rows, ds.Columns) == (v.slices, v.rows, v.cols)
        checked += 1
    assert checked


def test_head_range_and_bearer(served, world):
    _server, rows = served
    row, world_row = _small(world, rows)[0]
    url = row["data_row"]["row_data"]
    size = file_size(world_row.series)
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == size and not head.content
    assert head.headers["Accept-Ranges"] == "bytes"
    whole = part10_bytes(world_row)
    part = requests.get(url, headers={"Range": "bytes=128-131", "Authorization": "Bearer anything"}, timeout=30)
    assert part.status_code == 206 and part.content == b"DICM" == whole[128:132]
    assert part.headers["Content-Range"] == f"bytes 128-131/{size}"
    tail = requests.get(url, headers={"Range": "bytes=-10"}, timeout=30)
    assert tail.status_code == 206 and tail.content == whole[-10:]
    frames = requests.get(url, headers={"Range": f"bytes={size - 1000}-"}, timeout=30)
    assert frames.content == whole[-1000:]
    beyond = requests.get(url, headers={"Range": f"bytes={size}-"}, timeout=30)
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    several = requests.get(url, headers={"Range": "bytes=0-1,5-6"}, timeout=30)
    assert several.status_code == 200 and len(several.content) == size  # allowed: ignore what we do not serve


def test_signed_expiring_and_faults(served, world):
    server, rows = served
    row, world_row = _small(world, rows)[0]
    url = row["data_row"]["row_data"]
    parts = urlsplit(url)
    bare = f"{parts.scheme}://{parts.netloc}{parts.path}"
    assert requests.get(bare, timeout=30).json()["code"] == "BAD_SIGNATURE"
    query = parse_qs(parts.query)
    forged = f"{bare}?X-Lbmock-Expires={int(query['X-Lbmock-Expires'][0]) + 60}" \
             f"&X-Lbmock-Signature={query['X-Lbmock-Signature'][0]}"
    assert requests.get(forged, timeout=30).status_code == 403
    expired = bare + server.backend.signer.sign(parts.path, now=time.time() - 7200)[len(parts.path):]
    resp = requests.get(expired, timeout=30)
    assert resp.status_code == 403 and resp.json()["code"] == "EXPIRED"
    other = url.replace(dicom_file_name(world_row), f"{world_row.id}-another.dcm")
    assert requests.get(other, timeout=30).status_code in (403, 404)  # the signature covers the name
    server.fault("expired-files", times=1)
    assert requests.get(url, timeout=30).json()["code"] == "EXPIRED"
    server.fault("truncated-files", arg=1000, times=1)
    cut = requests.get(url, timeout=30)
    assert cut.status_code == 200 and len(cut.content) == file_size(world_row.series) - 1000
    with pytest.raises(Exception):  # noqa: B017 - pydicom's error for a short Pixel Data varies
        pydicom.dcmread(io.BytesIO(cut.content)).pixel_array  # noqa: B018
    assert requests.get(url, timeout=30).status_code == 200  # faults spent


def test_unknown_files_are_404(served, world):
    server, _rows = served
    row = world.row(0)
    for org, name in ((world.project.organization.id, "cnotarow000000000000000000-x.dcm"),
                      ("cnotanorg0000000000000000", dicom_file_name(row)),
                      (world.project.organization.id, f"{row.id}-renamed.dcm")):
        path = f"/storage/{org}/{name}"
        resp = requests.get(server.base_url + server.backend.signer.sign(path), timeout=30)
        assert resp.status_code == 404 and resp.json()["code"] == "NOT_FOUND"


def test_in_process_on_the_storage_host(world, lb_mock):
    rows = _exported(lb_mock.client_kwargs, lb_mock.project_id)
    row, world_row = _small(world, rows)[0]
    url = row["data_row"]["row_data"]
    assert url.startswith("https://storage.labelbox.com/")
    with requests.get(url, stream=True, timeout=30) as resp:
        assert resp.status_code == 200
        assert int(resp.headers["Content-Length"]) == file_size(world_row.series)
        data = b"".join(resp.iter_content(1 << 16))
    assert data == part10_bytes(world_row)
    assert requests.head(url, timeout=30).headers["Content-Length"] == str(len(data))
    lb_mock.fault("expired-files", times=1)
    assert requests.get(url, timeout=30).status_code == 403
    # the legacy export's "Labeled Data" is the same signed file (export_labels, as 3.x asks for it)
    auth = {"Authorization": f"Bearer {lb_mock.api_key}"}
    for _poll in range(5):
        payload = requests.post("https://api.labelbox.com/graphql", headers=auth, timeout=30, json={
            "query": LEGACY_EXPORT % "", "variables": {"projectId": lb_mock.project_id}}).json()["data"]["exportLabels"]
        if not payload["shouldPoll"]:
            break
    legacy = requests.get(payload["downloadUrl"], timeout=30).json()
    assert legacy
    got = requests.get(legacy[0]["Labeled Data"], headers={"Range": "bytes=128-131"}, timeout=30)
    assert got.status_code == 206 and got.content == b"DICM"


def test_a_tasks_rows_render_the_same_on_every_worker(tmp_path, world):
    """row_data is signed as of the task's creation: two workers render identical bytes."""
    config = {"signing_key": b"k" * 32, "state_path": str(tmp_path / "state.sqlite")}
    first, second = mocks.backend(world, **config), mocks.backend(world, **config)
    task = first.create_export("key", ExportParams(), ExportFilters(), Urls.served_at("http://lbmock.test"),
                               None, True, int(time.time() * 1000))
    time.sleep(1.1)  # a second later: signing as of "now" would differ
    again = second.task_by_id(task.id)
    lines = b"".join(first.job(task, RESULT).lines())  # what each worker renders (before the shared spool)
    assert lines == b"".join(second.job(again, RESULT).lines())
    assert lines != unsigned(lines)  # they are signed


@pytest.mark.lb_world(seed=SEED, rows=4, dicom_variants=["oblique", "reversed-slices"])
def test_variants_reach_the_served_files(lb_server, lb_world):
    spec = WorldSpec(seed=SEED, rows=4, dicom_variants=("oblique", "reversed-slices"))
    assert WorldSpec.from_json({"seed": SEED, "rows": 4, "dicom_variants": ["reversed-slices", "oblique"]}) == spec
    rows = _exported(lb_server.client_kwargs, lb_server.project_id)
    row = rows[0]
    world_row = next(r for r in lb_world if r.id == row["data_row"]["id"])
    header = len(header_bytes(world_row.series))  # everything before the pixels
    head = requests.get(row["data_row"]["row_data"], headers={"Range": f"bytes=0-{header - 1}"}, timeout=30)
    ds = pydicom.dcmread(io.BytesIO(head.content), stop_before_pixels=True)
    orientation = [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                   .ImageOrientationPatient]
    assert orientation[:3] != [1.0, 0.0, 0.0]
    assert world_row.series.geometry.slice_step < 0
    # POST /_mock/world takes the same option
    loaded = requests.post(f"{lb_server.base_url}/_mock/world", json={"seed": 1, "rows": 2,
                                                                   "dicom_variants": ["mr-rescale"]}, timeout=30)
    assert loaded.status_code == 200 and loaded.json()["dicom_variants"] == ["mr-rescale"]
    assert all(r.series.modality == "MR" for r in lb_server.world)
    bad = requests.post(f"{lb_server.base_url}/_mock/world", json={"seed": 1, "dicom_variants": ["sideways"]},
                        timeout=30)
    assert bad.status_code == 400 and "sideways" in bad.json()["error"]


@pytest.mark.lb_world(seed=SEED, rows=3, dicom_variants=["anisotropic"])
def test_the_lb_world_marker_takes_variants(lb_world):
    assert all(r.series.geometry.row_spacing != r.series.geometry.column_spacing for r in lb_world)


def _row_data_url(base: str, backend_or_key, world, row) -> str:
    sign = backend_or_key.signer.sign if hasattr(backend_or_key, "signer") else backend_or_key
    return Urls.served_at(base, sign=sign).row_data(world.project.organization.id, row)


def test_a_volume_is_kept_after_its_first_whole_download(world, lb_server):
    """The first whole GET writes the file through to the volume cache; later whole and Range GETs
    send the kept file, byte-identical; a download abandoned midway keeps nothing; another world
    never gets the old bytes."""
    row = next(r for r in world if r.volume.rows * r.volume.cols * r.volume.slices < SMALL)
    expected = part10_bytes(row)
    backend = lb_server.backend
    url = _row_data_url(lb_server.base_url, backend, world, row)
    key = backend.volume_key(dicom_file_name(row))
    part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=30)
    assert part.content == expected[1000:2000] and backend.exports.volumes.open(key) is None  # ranges: generated
    with requests.get(url, stream=True, timeout=30) as abandoned:
        abandoned.raw.read(1000)  # then the client goes away (the rest may sit in socket buffers)
    deadline = time.monotonic() + 10
    while list(backend.exports.volumes._directory().glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(backend.exports.volumes._directory().glob(".*.tmp"))  # no partial file left behind
    early = backend.exports.volumes.open(key)
    if early is not None:  # only if every byte was sent before the client left
        with early:
            assert early.read() == expected
    assert requests.get(url, timeout=30).content == expected
    kept = backend.exports.volumes.open(key)
    assert kept is not None and kept.read() == expected
    kept.close()
    assert requests.get(url, timeout=30).content == expected  # from the kept file
    tail = requests.get(url, headers={"Range": "bytes=-5000"}, timeout=30)
    assert tail.status_code == 206 and tail.content == expected[-5000:]
    assert requests.head(url, timeout=30).headers["Content-Length"] == str(len(expected))
    lb_server.fault("truncated-files", arg=100, times=1)
    cut = requests.get(url, timeout=30)
    assert int(cut.headers["Content-Length"]) == len(cut.content) == len(expected) - 100
    assert cut.content == expected[:-100]
    backend.load_world(WorldSpec(seed=SEED + 1, rows=ROWS))
    assert backend.volume_key(dicom_file_name(row)) != key


def test_kept_volumes_are_sent_whole_and_in_ranges_by_lbmock_serve(world, tmp_path):
    """The same through ``lbmock serve`` (its server sends kept files with sendfile): bytes exact
    whole and in ranges, before and after the file is kept (beside the --state file)."""
    from lbmock.contract_tests.wire import start_serve
    from lbmock.mockserver.backend.signing import UrlSigner

    key = "cd" * 32
    index, row = next((i, r) for i, r in enumerate(world) if r.volume.rows * r.volume.cols * r.volume.slices < SMALL)
    expected = part10_bytes(row)
    kept = tmp_path / "spool" / "volumes"
    with start_serve("--seed", str(SEED), "--rows", str(ROWS), "--signing-key", key,
                     "--state", str(tmp_path / "state.sqlite")) as served:
        url = _row_data_url(served.base_url, UrlSigner(bytes.fromhex(key)).sign, world, row)
        with requests.Session() as session:
            for _ in range(2):  # generated and kept, then sent from the kept file
                assert session.get(url, timeout=30).content == expected
                assert [p.read_bytes() for p in kept.glob("*.dcm")] == [expected]
                middle = session.get(url, headers={"Range": "bytes=300-70000"}, timeout=30)
                assert middle.status_code == 206 and middle.content == expected[300:70001]
                assert middle.headers["Content-Range"] == f"bytes 300-70000/{len(expected)}"
    assert index >= 0


@pytest.mark.lb_world(seed=4, rows=4, dicom_variants=["jpeg2000-lossless", "extended-offset-table"])  # a small row
def test_an_encapsulated_file_is_served_whole_and_in_ranges(lb_server, lb_world):
    """JPEG 2000 frames after an Extended Offset Table, over HTTP: HEAD's size, the whole file, and
    ranges inside the header, across the offset tables and inside one frame's item."""
    rows = _exported(lb_server.client_kwargs, lb_server.project_id)
    row, world_row = next((row, r) for row in rows for r in lb_world
                          if r.id == row["data_row"]["id"] and r.volume.rows * r.volume.cols * r.volume.slices < SMALL)
    url, whole = row["data_row"]["row_data"], part10_bytes(world_row)
    head = requests.head(url, timeout=30)
    assert int(head.headers["Content-Length"]) == len(whole) == file_size(world_row.series, world_row)
    got = requests.get(url, timeout=30)
    assert got.content == whole
    ds = pydicom.dcmread(io.BytesIO(got.content))
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless and "ExtendedOffsetTable" in ds
    n = world_row.volume.slices
    table = whole.index(b"\xe0\x7f\x01\x00OV")  # (7FE0,0001), then (7FE0,0002), Pixel Data, an empty BOT
    first_item = table + 2 * (12 + 8 * n) + 12 + 8
    last_frame = first_item + struct.unpack(f"<{n}Q", ds.ExtendedOffsetTable)[-1]
    assert whole[last_frame:last_frame + 4] == b"\xfe\xff\x00\xe0"  # an item's start
    for start, end in ((0, 131), (table - 7, table + 100), (last_frame - 3, last_frame + 50),
                       (len(whole) - 20, len(whole) - 1)):
        part = requests.get(url, headers={"Range": f"bytes={start}-{end}"}, timeout=30)
        assert part.status_code == 206 and part.content == whole[start:end + 1], (start, end)
