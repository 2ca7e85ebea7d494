"""Issue 22.4, "Your DICOM": a folder of the user's files behind row_data (world option dicom_dir).

The test writes the folder with pydicom: a single-frame CT 32 x 48, an Enhanced MR 24 x 24 x 7 on a
doubly oblique grid (every frame's position in its functional groups), a sagittal classic
multi-frame MR 20 x 40 x 5 (one ImagePositionPatient and SpacingBetweenSlices), and files lbmock
must refuse (no Pixel Data, not DICOM, no geometry, too little Pixel Data).  Through labelbox
7.17.0: every row_data is its file byte for byte (ranged GETs too), every mask PNG is the size of
its plane on that file's grid; the oracle's affine is the one built here from the file's tags.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import labelbox
import mocks
import nibabel as nib
import numpy as np
import pydicom
import pytest
import requests
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lbmock.cli import main as lbmock_main
from lbmock.dicom.geometry import affine_lps
from lbmock.dicom.user_files import FileSeries, read_user_file, scan_dicom_dir
from lbmock.ids import row_index_of
from lbmock.oracle import write_oracle
from lbmock.strategies.served_world import resolve_world
from lbmock.world import Volume
from lbmock.world_spec import SpecError, WorldSpec

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
ROW_COSINE, COLUMN_COSINE = (0.6, 0.8, 0.0), (-0.224, 0.168, 0.96)  # exactly orthonormal
USABLE = ("a-ct-single.dcm", "b-mr-oblique.dcm", "nested/c-sagittal")  # sorted by relative path
ROWS = 9  # more rows than files: row i serves file i mod 3


def _base(sop_class: str, modality: str, rows: int, cols: int, frames: int = 1) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.Modality = sop_class, modality
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.StudyDate, ds.StudyTime = "TEST-1", "Test^User", "20240131", "101500"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    rng = np.random.default_rng(rows * cols * frames)
    ds.PixelData = rng.integers(0, 4000, (frames, rows, cols), dtype=np.uint16).tobytes()
    return ds


def _write(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def ct_single(path: Path) -> None:
    ds = _base(CT_IMAGE, "CT", 32, 48)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-100.5, -80.25, 30]
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.8], 2.5
    ds.RescaleSlope, ds.RescaleIntercept, ds.WindowCenter, ds.WindowWidth = 1, -1024, 40, 400
    _write(ds, path)


def mr_oblique(path: Path) -> None:
    """Enhanced MR: shared orientation and spacing, one PlanePosition per frame, 1.5 mm apart."""
    ds = _base(ENHANCED_MR, "MR", 24, 24, 7)
    normal = np.cross(ROW_COSINE, COLUMN_COSINE)
    shared = Dataset()
    shared.PlaneOrientationSequence = Sequence([Dataset()])
    shared.PlaneOrientationSequence[0].ImageOrientationPatient = [*ROW_COSINE, *COLUMN_COSINE]
    shared.PixelMeasuresSequence = Sequence([Dataset()])
    shared.PixelMeasuresSequence[0].PixelSpacing = [1.25, 0.9]
    shared.PixelMeasuresSequence[0].SliceThickness = 1.5
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for f in range(7):
        item = Dataset()
        item.PlanePositionSequence = Sequence([Dataset()])
        position = np.array([12.5, -40.0, 7.75]) + f * 1.5 * normal
        item.PlanePositionSequence[0].ImagePositionPatient = [f"{v:.6f}" for v in position]
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    _write(ds, path)


def sagittal(path: Path) -> None:
    """Classic multi-frame: one position, frames SpacingBetweenSlices apart along the normal."""
    ds = _base(MR_IMAGE, "MR", 20, 40, 5)
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.ImagePositionPatient = [-30, -90, 60]
    ds.PixelSpacing, ds.SpacingBetweenSlices, ds.SliceThickness = [2, 1.5], 3, 2
    _write(ds, path)


def write_bad_files(folder: Path) -> None:
    no_pixels = _base(CT_IMAGE, "CT", 8, 8)
    del no_pixels.PixelData
    _write(no_pixels, folder / "bad-no-pixels.dcm")
    (folder / "bad-not-dicom.dcm").write_bytes(b"this is a radiology report, not an image\n" * 10)
    _write(_base(CT_IMAGE, "CT", 8, 8), folder / "bad-no-geometry.dcm")
    short = _base(CT_IMAGE, "CT", 16, 16)
    short.ImageOrientationPatient, short.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0, 0, 0]
    short.PixelSpacing = [1, 1]
    short.PixelData = b"\0" * 64
    _write(short, folder / "bad-short-pixels.dcm")


REFUSED = {"bad-no-pixels.dcm": "no pixel data", "bad-not-dicom.dcm": "not a DICOM Part 10 file",
           "bad-no-geometry.dcm": "no usable geometry", "bad-short-pixels.dcm": "cannot read"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("user-dicom")
    ct_single(root / USABLE[0])
    mr_oblique(root / USABLE[1])
    sagittal(root / USABLE[2])
    write_bad_files(root)
    return root


def _fingerprint(folder: Path) -> dict[str, tuple[int, str]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def tags_affine(ds: pydicom.Dataset) -> np.ndarray:
    """The LPS affine a reader builds from the file's own tags (first two frames' positions when
    each frame has one; else the normal times SpacingBetweenSlices, or SliceThickness for one frame)."""
    if "SharedFunctionalGroupsSequence" in ds:
        shared = ds.SharedFunctionalGroupsSequence[0]
        orientation = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
        spacing = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
        positions = [np.array([float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient])
                     for fg in ds.PerFrameFunctionalGroupsSequence[:2]]
        third = positions[1] - positions[0]
    else:
        orientation = [float(v) for v in ds.ImageOrientationPatient]
        spacing = [float(v) for v in ds.PixelSpacing]
        positions = [np.array([float(v) for v in ds.ImagePositionPatient])]
        step = float(ds.SpacingBetweenSlices) if int(ds.get("NumberOfFrames", 1)) > 1 else float(ds.SliceThickness)
        third = np.cross(orientation[:3], orientation[3:]) * step
    affine = np.eye(4)
    affine[:3, 0] = np.array(orientation[:3]) * spacing[1]
    affine[:3, 1] = np.array(orientation[3:]) * spacing[0]
    affine[:3, 2] = third
    affine[:3, 3] = positions[0]
    return affine


def test_scan_sorts_usable_files_and_gives_each_refusal_its_reason(folder):
    before = _fingerprint(folder)
    scan = scan_dicom_dir(folder)
    assert [f.relative_path for f in scan.usable] == list(USABLE)
    refused = dict(scan.refused)
    assert sorted(refused) == sorted(REFUSED)
    for name, reason in REFUSED.items():
        assert reason in refused[name], (name, refused[name])
    ct, mr, sag = scan.usable
    assert (ct.volume, mr.volume, sag.volume) == (Volume(32, 48, 1), Volume(24, 24, 7), Volume(20, 40, 5))
    assert (ct.modality, mr.modality, sag.modality) == ("CT", "MR", "MR")
    assert (ct.rescale_slope, ct.rescale_intercept, ct.window_center, ct.window_width) == (1.0, -1024.0, 40.0, 400.0)
    assert mr.geometry.row_cosine == ROW_COSINE and mr.geometry.column_cosine == COLUMN_COSINE
    assert mr.geometry.slice_step == pytest.approx(1.5, abs=1e-5)
    assert sag.geometry.slice_step == 3.0 and sag.geometry.origin == (-30.0, -90.0, 60.0)
    for f in scan.usable:
        ds = pydicom.dcmread(folder / f.relative_path)
        assert f.sop_uid == ds.SOPInstanceUID and f.size == (folder / f.relative_path).stat().st_size
        np.testing.assert_array_equal(affine_lps(f), tags_affine(ds))
    # small and picklable: what helper processes get
    assert pickle.loads(pickle.dumps(mr)) == mr and len(pickle.dumps(scan.usable)) < 8000
    assert _fingerprint(folder) == before  # never modified, not even touched


def test_uneven_and_sheared_frames_are_refused(tmp_path):
    mr_oblique(tmp_path / "mr.dcm")
    ds = pydicom.dcmread(tmp_path / "mr.dcm")
    ds.PerFrameFunctionalGroupsSequence[3].PlanePositionSequence[0].ImagePositionPatient[0] += 2.0
    ds.save_as(tmp_path / "sheared.dcm")
    with pytest.raises(ValueError, match="no usable geometry"):
        read_user_file(tmp_path / "sheared.dcm")


def _covers(world) -> bool:
    """Every file has a mask on some row, and some row a polyline: what the test below is about."""
    kinds = {(r.series.relative_path, f.tool.kind) for r in world for lb in r.labels for f in lb.features}
    return all((name, "mask") in kinds for name in USABLE) and any(k == "polyline" for _n, k in kinds)


def test_served_byte_for_byte_with_masks_on_each_files_grid(folder, tmp_path):
    before = _fingerprint(folder)
    # looked up, not hard-coded, so the test keeps its subject as the strategies evolve
    spec = next(s for s in (WorldSpec(seed=seed, rows=ROWS, dicom_dir=str(folder)) for seed in range(500))
                if _covers(resolve_world(s)))
    world = resolve_world(spec)
    files = {f.relative_path: (folder / f.relative_path).read_bytes() for f in scan_dicom_dir(folder).usable}
    with mocks.serving(spec) as srv:
        client = labelbox.Client(**srv.client_kwargs)
        task = client.get_project(srv.project_id).export(params={"label_details": True})
        task.wait_till_done()
        assert not task.has_errors()
        rows = [output.json for output in task.get_buffered_stream()]
        assert len(rows) == ROWS
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {srv.api_key}"  # masks need it; row_data ignores it
        masks, lines, oracles = set(), 0, 0
        for row in rows:
            index = row_index_of(row["data_row"]["id"])
            relative = USABLE[index % len(USABLE)]
            expected = files[relative]
            url = row["data_row"]["row_data"]
            got = session.get(url)
            assert got.status_code == 200 and got.content == expected, relative
            assert got.headers["ETag"] and int(got.headers["Content-Length"]) == len(expected)
            part = session.get(url, headers={"Range": "bytes=100-1099"})
            assert part.status_code == 206 and part.content == expected[100:1100]
            assert part.headers["Content-Range"] == f"bytes 100-1099/{len(expected)}"
            tail = session.get(url, headers={"Range": "bytes=-10"})
            assert tail.status_code == 206 and tail.content == expected[-10:]
            ds = pydicom.dcmread(folder / relative)
            volume = Volume(int(ds.Rows), int(ds.Columns), int(ds.get("NumberOfFrames", 1)))
            labels = row["projects"][srv.project_id]["labels"]
            for label in labels:
                for plane, group in label["annotations"]["groups"].items():
                    p = volume.plane(plane)
                    for frame, content in group["frames"].items():
                        assert 1 <= int(frame) <= p.frame_count
                        for obj in content["objects"].values():
                            if "mask" in obj:
                                png = Image.open(io.BytesIO(session.get(obj["mask"]["url"]).content))
                                assert png.size == (p.width, p.height), (relative, plane)
                                masks.add(relative)
                            for point in obj.get("line", []):
                                assert 0 <= point["x"] <= p.width and 0 <= point["y"] <= p.height
                                lines += 1
            if labels:  # the oracle: on the file's grid, its affine the one from the file's tags
                out = tmp_path / f"{row['data_row']['id']}.nii.gz"
                files_out = write_oracle(world, row["data_row"]["id"], out)
                np.testing.assert_array_equal(np.array(files_out.summary["affine_lps"]), tags_affine(ds))
                image = nib.load(out)
                assert image.shape == (volume.cols, volume.rows, volume.slices)
                ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ tags_affine(ds)
                np.testing.assert_allclose(image.affine, ras, atol=1e-4)
                assert files_out.summary["dicom"]["sop_instance_uid"] == ds.SOPInstanceUID
                oracles += 1
        assert masks == set(USABLE) and lines and oracles >= 3
    assert _fingerprint(folder) == before


def test_same_folder_and_seed_same_world_in_any_process(folder):
    world = resolve_world(WorldSpec(seed=9, rows=ROWS, dicom_dir=str(folder)))
    rows = pickle.loads(pickle.dumps(world.rows))  # what a helper process gets
    for i in range(ROWS):
        assert rows[i] == world.rows[i]
        assert isinstance(world.rows[i].series, FileSeries)
        assert world.rows[i].volume == world.rows[i].series.volume
        assert world.row_in_pass(i).series == world.rows[i].series  # export passes keep the file's series
    code = ("import sys; from lbmock.strategies.served_world import resolve_world; from lbmock.world_spec import "
            "WorldSpec; w = resolve_world(WorldSpec(seed=9, rows=int(sys.argv[2]), dicom_dir=sys.argv[1])); "
            "print(repr([(r.id, r.series.relative_path, r.series.sha256, r.labels) for r in w]))")
    elsewhere = subprocess.run([sys.executable, "-c", code, str(folder), str(ROWS)], capture_output=True, text=True,
                               check=True, env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.strip()
    assert elsewhere == repr([(r.id, r.series.relative_path, r.series.sha256, r.labels) for r in world])


def test_options_that_cannot_be_served(folder, tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to see")
    with pytest.raises(SpecError, match=r"no usable DICOM file.*notes\.txt: not a DICOM"):
        WorldSpec(dicom_dir=str(tmp_path))
    with pytest.raises(SpecError, match="not a folder"):
        WorldSpec(dicom_dir=str(tmp_path / "missing"))
    with pytest.raises(SpecError, match="served as they are"):
        WorldSpec(dicom_dir=str(folder), dicom_variants=["oblique"])


def test_serve_on_a_folder_with_no_usable_file_exits_2(tmp_path, capsys):
    write_bad_files(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        lbmock_main(["serve", "--port", "0", "--dicom-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--dicom-dir" in err and "no usable DICOM file" in err and "bad-no-pixels.dcm: no pixel data" in err


def test_serve_lists_refused_files_at_start(folder):
    proc = subprocess.Popen([sys.executable, "-m", "lbmock", "serve", "--port", "0", "--rows", "3",
                             "--dicom-dir", str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        err = []
        for line in proc.stderr:
            err.append(line)
            if "serving 3 DICOM file(s)" in line:
                break
        text = "".join(err)
        for name, reason in REFUSED.items():
            assert f"lbmock: refused {name}: " in text and reason in text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_docs_conftest_serves_your_files_in_process(folder, tmp_path):
    """The docs' conftest (docs/how-to/your-own-dicom.md), as a user's project has it: lb_mock
    (in-process, storage.labelbox.com) serves the folder's files behind row_data."""
    section = (Path(__file__).resolve().parent.parent / "docs" / "how-to" / "your-own-dicom.md").read_text()
    conftest = section.split("```python\n", 1)[1].split("```", 1)[0]
    project = tmp_path / "project"
    (project / "dicom").mkdir(parents=True)
    (project / "conftest.py").write_text(conftest)
    ct_single(project / "dicom" / "ct.dcm")
    (project / "test_mine.py").write_text(
        "import labelbox, requests\n"
        "def test_row_data_is_my_file(lb_mock):\n"
        "    client = labelbox.Client(**lb_mock.client_kwargs)\n"
        "    task = client.get_project(lb_mock.project_id).export()\n"
        "    task.wait_till_done()\n"
        "    mine = open(__file__.replace('test_mine.py', 'dicom/ct.dcm'), 'rb').read()\n"
        "    for out in task.get_buffered_stream():\n"
        "        assert requests.get(out.json['data_row']['row_data']).content == mine\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(project)], capture_output=True, text=True, cwd=project, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_lbmock_oracle_on_the_command_line_uses_the_files_tags(folder, tmp_path):
    world = resolve_world(WorldSpec(seed=2, rows=ROWS, dicom_dir=str(folder)))
    row = next(r for r in world if r.labels and r.series.relative_path == USABLE[1])  # the oblique MR
    out = tmp_path / "labels.nii.gz"
    assert lbmock_main(["oracle", "--seed", "2", "--rows", str(ROWS), "--dicom-dir", str(folder),
                        "--data-row", row.id, "--out", str(out)]) == 0
    image = nib.load(out)
    assert image.shape == (24, 24, 7)
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ tags_affine(pydicom.dcmread(folder / USABLE[1]))
    np.testing.assert_allclose(image.affine, ras, atol=1e-4)
    assert "b-mr-oblique.dcm" in (tmp_path / "labels.json").read_text()


def test_a_world_file_names_the_folder_relative_to_itself(folder, tmp_path):
    from lbmock.world_spec import load_world_file

    (folder.parent / "world.toml").write_text(f'seed = 3\nrows = 5\ndicom_dir = "{folder.name}"\n'
                                              'status_mix = {Done = 1}\n')
    spec = load_world_file(folder.parent / "world.toml")
    assert spec.dicom_dir == str(folder)
    world = resolve_world(spec)  # a shaped world (status mix): rows still serve the files
    assert [r.series.relative_path for r in world] == [USABLE[i % 3] for i in range(5)]
    assert all(r.status.value == "Done" and r.volume == r.series.volume for r in world)


def test_a_file_changed_after_the_start_is_answered_409(tmp_path):
    ct_single(tmp_path / "ct.dcm")
    with mocks.serving(WorldSpec(seed=1, rows=2, dicom_dir=str(tmp_path))) as srv:
        client = labelbox.Client(**srv.client_kwargs)
        task = client.get_project(srv.project_id).export()
        task.wait_till_done()
        url = next(iter(task.get_buffered_stream())).json["data_row"]["row_data"]
        assert requests.get(url).content == (tmp_path / "ct.dcm").read_bytes()
        with open(tmp_path / "ct.dcm", "ab") as f:  # the test's own copy, not a user's file
            f.write(b"\0" * 16)
        changed = requests.get(url)
        assert changed.status_code == 409 and "ct.dcm" in changed.text


def test_slice_thickness_metadata_is_what_each_file_states(folder):
    """Issue 25.6: a row's ``slice_thickness_mm`` is its file's SliceThickness (the sagittal file's is 2,
    though its frames are SpacingBetweenSlices 3 apart), the same in an export pass as in a full draw."""
    world = resolve_world(WorldSpec(seed=3, rows=30, dicom_dir=str(folder)))
    stated = {"a-ct-single.dcm": 2.5, "b-mr-oblique.dcm": 1.5, "nested/c-sagittal": 2.0}
    seen = set()
    for index in range(len(world)):
        for row in (world.row(index), world.row_in_pass(index)):
            values = [m.value for m in row.metadata if m.schema.name == "slice_thickness_mm"]
            series = world.row(index).series
            assert isinstance(series, FileSeries)
            captured = [m.value for m in row.metadata if m.schema.name == "captureDateTime"]
            assert captured in ([], [series.tag_acquired_at]) and series.tag_acquired_at  # the file's own date
            if values:
                assert values == [stated[series.relative_path]]
                seen.add(series.relative_path)
    assert seen == set(stated)


def test_dashboard_previews_show_the_files_own_pixels(folder):
    """The dashboard's slice views of a --dicom-dir row are the user's pixels (the stored values pydicom
    decodes from the file), on every plane, never the phantom's."""
    from lbmock.render.slices import stored_plane

    world = resolve_world(WorldSpec(seed=3, rows=6, dicom_dir=str(folder)))
    seen = set()
    for index in range(len(world)):
        row = world.row(index)
        if row.series.relative_path in seen:
            continue
        seen.add(row.series.relative_path)
        pixels = pydicom.dcmread(row.series.path).pixel_array
        volume = pixels if pixels.ndim == 3 else pixels[None]
        v = row.volume
        assert (stored_plane(row, "Axial", v.slices) == volume[v.slices - 1]).all()
        assert (stored_plane(row, "Sagittal", 1) == volume[:, :, 0]).all()
        assert (stored_plane(row, "Coronal", v.rows) == volume[:, v.rows - 1, :]).all()
    assert len(seen) == 3


def test_a_preview_pydicom_cannot_decode_is_a_clear_422(tmp_path):
    """A file served byte for byte whose pixels pydicom cannot decode (here: JPEG Baseline frames that
    are not JPEG) gets a 422 naming the file on its slice view, never a 5xx or a traceback."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    ds = _base(CT_IMAGE, "CT", 32, 48)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, 0]
    ds.PixelSpacing, ds.SliceThickness = [1, 1], 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = encapsulate([b"not a JPEG at all"])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    _write(ds, tmp_path / "broken.dcm")
    world = resolve_world(WorldSpec(seed=1, rows=1, dicom_dir=str(tmp_path)))
    client = mocks.flask_client(world)
    reply = client.get(f"/_mock/dashboard/rows/{world.row(0).id}/Axial/1/image.png", headers={"Host": "127.0.0.1"})
    assert reply.status_code == 422 and b"broken.dcm" in reply.data, reply.data[:300]


def gradient_file(path: Path, photometric: str) -> None:
    """Classic multi-frame MR whose stored values rise along each row (left to right), 10 more a frame."""
    ds = _base(MR_IMAGE, "MR", 12, 16, 4)
    ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0, 0, 0]
    ds.PixelSpacing, ds.SpacingBetweenSlices, ds.SliceThickness = [1, 1], 2, 2
    ds.PhotometricInterpretation = photometric
    ds.WindowCenter, ds.WindowWidth = 800, 1600
    values = 50 + 100 * np.arange(16)[None, None, :] + 10 * np.arange(4)[:, None, None] + np.zeros((4, 12, 1))
    ds.PixelData = values.astype(np.uint16).tobytes()
    _write(ds, path)


def previews(folder: Path, planes: tuple[tuple[str, int], ...], window: str) -> list[bytes]:
    """The dashboard's PNG previews of the folder's one file (served as ``lbmock serve --dicom-dir``)."""
    world = resolve_world(WorldSpec(seed=1, rows=1, dicom_dir=str(folder)))
    client = mocks.flask_client(world)
    out = []
    for plane, frame in planes:
        reply = client.get(f"/_mock/dashboard/rows/{world.row(0).id}/{plane}/{frame}/image.png?window={window}",
                           headers={"Host": "127.0.0.1"})
        assert reply.status_code == 200, reply.data[:300]
        out.append(reply.data)
    return out


def test_a_monochrome1_preview_is_inverted_after_windowing(tmp_path):
    """MONOCHROME1 (low values bright) shows as a viewer shows it: the brightest pixels are where the
    stored values are lowest, and every grey level is the MONOCHROME2 twin's inverted, in every window."""
    from lbmock.render.slices import WINDOWS

    for photometric in ("MONOCHROME1", "MONOCHROME2"):
        gradient_file(tmp_path / photometric / "gradient.dcm", photometric)
    for window in WINDOWS:
        shown = {photometric: np.asarray(Image.open(io.BytesIO(previews(tmp_path / photometric, (("Axial", 1),),
                                                                         window)[0])), dtype=np.int64)
                 for photometric in ("MONOCHROME1", "MONOCHROME2")}
        assert np.array_equal(shown["MONOCHROME1"], 255 - shown["MONOCHROME2"]), window
    for window in ("dicom", "auto"):  # windows that span the gradient: lowest and highest differ
        first = previews(tmp_path / "MONOCHROME1", (("Axial", 1),), window)[0]
        m1 = np.asarray(Image.open(io.BytesIO(first)))
        m2 = np.asarray(Image.open(io.BytesIO(previews(tmp_path / "MONOCHROME2", (("Axial", 1),), window)[0])))
        assert m1[:, 0].min() > m1[:, 1:].max(), window  # stored values lowest in the first column
        assert m2[:, -1].min() > m2[:, :-1].max(), window  # and highest in the last


def test_side_and_front_previews_decode_a_file_once(tmp_path, monkeypatch):
    """Sagittal and Coronal previews of a multi-frame file decode it once (the row page's three views
    at once too), with the same PNG bytes as decoding it a frame at a time for every preview."""
    import threading

    from lbmock.render import slices

    gradient_file(tmp_path / "gradient.dcm", "MONOCHROME1")
    planes = (("Sagittal", 1), ("Sagittal", 7), ("Coronal", 3), ("Axial", 2), ("Sagittal", 1))
    decodes = []
    decode = slices._decode_volume
    monkeypatch.setattr(slices, "_decode_volume", lambda path: (decodes.append(path), decode(path))[1])
    monkeypatch.setattr(slices, "_DECODED", slices.DecodedVolumes(slices.DECODED_BYTES))
    cached = previews(tmp_path, planes, "auto")
    assert len(decodes) == 1
    previews(tmp_path, planes, "dicom")
    assert len(decodes) == 1  # kept: another request, another window, no decode

    monkeypatch.setattr(slices, "_DECODED", slices.DecodedVolumes(0))  # nothing fits: a frame at a time
    assert previews(tmp_path, planes, "auto") == cached
    assert len(decodes) == 1

    monkeypatch.setattr(slices, "_DECODED", slices.DecodedVolumes(slices.DECODED_BYTES))
    world = resolve_world(WorldSpec(seed=1, rows=1, dicom_dir=str(tmp_path)))
    views = [threading.Thread(target=slices.stored_plane, args=(world.row(0), plane, 1)) for plane in slices.PLANE_AXES]
    for view in views:
        view.start()
    for view in views:
        view.join(60)
    assert len(decodes) == 2  # the page's three views at once: one more decode, not three
