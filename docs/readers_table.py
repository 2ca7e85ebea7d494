"""Which DICOM readers read which lbmock variant correctly: a table of reader x variant.

For the plain file and every name in ``lbmock.dicom.series.VARIANTS`` (read at run time), one small
row is drawn (seed 1, 32 x 48 pixels, 7 frames; 31 x 45 for ``odd-sizes``) and its Part 10 file
written.  Each reader then reads every file in a subprocess of its own, so a reader that crashes
or hangs becomes a cell of the table.  A cell is *correct* when

* pixels: every frame of the file is found among the reader's slices, real-world values (after the
  rescale) within half a stored step of the plain uncompressed file's (lbmock's phantom), in any
  in-plane flip or transpose, and the reader has no slice the file does not hold (a slice filling
  the grid's missing slot is allowed);
* geometry: every voxel of those slices lies where the oracle puts it (``lbmock oracle``'s affine on
  its grid: :func:`lbmock.dicom.geometry.affine_lps` and ``grid_of_frames``), within
  :data:`GEOMETRY_MM`.

Run by hand: ``python docs/readers_table.py`` prints the Markdown table (``--help``: options).  The
docs site's build runs it too (``docs/hooks.py``: the ``readers`` marker of reference/readers.md).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GEOMETRY_MM = 1e-3  # a micrometre: float32 readers (dcm2niix's NIfTI) stay far inside it
CELL_SECONDS = 60  # a reader that gives no answer for a file in this time is a crash (a hang)
PLAIN = "plain"
SEED = 1
SIZE, ODD_SIZE, FRAMES = (32, 48), (31, 45), 7  # rows, columns: different so that a swapped axis shows

# The decoder plugins pydicom documents for the compressed transfer syntaxes: hidden from the
# "pydicom alone" reader (its worker sees them as not installed), given to every other reader.
DECODER_PLUGINS = ("pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pyjpegls")  # lbmock's extra "decoders"
PLUGIN_MODULES = ("pylibjpeg", "libjpeg", "openjpeg", "rle", "jpeg_ls", "gdcm", "PIL")  # import names, and Pillow's


@dataclass(frozen=True)
class Reader:
    name: str       # the table's row
    packages: tuple[str, ...]  # whose versions the table states
    how: str        # what the worker calls, for the legend


READERS = (
    Reader("pydicom alone", ("pydicom", "numpy"),
           "`dcmread(...).pixel_array`, no decoder plugin installed; rescale and per-frame positions from the tags"),
    Reader("pydicom + plugins", ("pydicom", *DECODER_PLUGINS),
           "the same with pydicom's decoder plugins installed"),
    Reader("example converter", ("pydicom", *DECODER_PLUGINS),
           "`examples/dicom_export_converter.py`: `image_volume(ds)` placed by `dicom_affine_lps(ds)`, plugins in"),
    Reader("SimpleITK ReadImage", ("SimpleITK",), "`sitk.ReadImage(path)`: origin, spacing, direction"),
    Reader("SimpleITK ImageSeriesReader", ("SimpleITK",),
           "`ImageSeriesReader` over `GetGDCMSeriesFileNames(folder)`"),
    Reader("nibabel", ("nibabel",), "`nibabel.nicom.dicomwrappers.MultiframeWrapper(ds)`: `get_data()`, `affine`"),
    Reader("highdicom", ("highdicom",), "`highdicom.imread(path).get_volume()`: `array`, `affine`"),
    Reader("dcm2niix", ("dcm2niix",), "`dcm2niix -z n -b n` on the file's folder, NIfTI read with nibabel"),
)


# ---------------------------------------------------------------- the files and what they hold


def variant_names() -> list[str]:
    from lbmock.dicom.series import VARIANTS

    return [PLAIN, *VARIANTS]


def write_case(variant: str, folder: Path) -> None:
    """``folder/file.dcm`` for ``variant`` and ``folder/expected.npz``: each file frame's real-world
    values (the plain uncompressed file's) and where the oracle puts its voxels."""
    import dataclasses

    from lbmock.dicom.geometry import affine_lps, grid_of_frames
    from lbmock.dicom.part10 import part10_bytes
    from lbmock.dicom.phantom import phantom_frames, real_value
    from lbmock.dicom.series import EXPLICIT_VR_LITTLE_ENDIAN
    from lbmock.strategies.served_world import resolve_world
    from lbmock.world_spec import VolumeSpec, WorldSpec

    rows, cols = ODD_SIZE if variant == "odd-sizes" else SIZE
    spec = WorldSpec(seed=SEED, rows=1, dicom_variants=() if variant == PLAIN else (variant,),
                     volumes=VolumeSpec(rows=(rows, rows), columns=(cols, cols), frames=(FRAMES, FRAMES)))
    row = resolve_world(spec).row(0)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "file.dcm").write_bytes(part10_bytes(row))
    series = row.series
    plain = dataclasses.replace(row, series=dataclasses.replace(series, transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN))
    stored = np.stack(list(phantom_frames(plain))).astype(np.float64)
    affine, ks = affine_lps(series), grid_of_frames(series)
    np.savez(folder / "expected.npz",
             values=real_value(series, stored),  # [frame, row, column]
             origins=np.array([(affine @ [0, 0, k, 1])[:3] for k in ks]),  # voxel (column 0, row 0) of each frame
             row_step=affine[:3, 1], column_step=affine[:3, 0],
             missing=np.array([(affine @ [0, 0, k, 1])[:3] for k in range(max(ks) + 1) if k not in ks]).reshape(-1, 3),
             tolerance=abs(real_value(series, 1.0) - real_value(series, 0.0)) / 2)


# ---------------------------------------------------------------- what a reader gave, against the truth


@dataclass
class Slice:
    """A 2-D slice a reader returned: ``values[a, b]`` lies at ``origin + a * step_a + b * step_b`` (LPS mm)."""

    values: np.ndarray
    origin: np.ndarray
    step_a: np.ndarray
    step_b: np.ndarray

    def positions(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.origin + a[..., None] * self.step_a + b[..., None] * self.step_b


def volume_slices(values: np.ndarray, affine: np.ndarray, axis: int) -> list[Slice]:
    """The slices along ``axis`` of a 3-D array whose index -> LPS mm is ``affine``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        values = np.expand_dims(values, axis)
    others = [a for a in range(3) if a != axis]
    out = []
    for s in range(values.shape[axis]):
        index = np.zeros(4)
        index[axis], index[3] = s, 1
        out.append(Slice(np.take(values, s, axis=axis), (affine @ index)[:3],
                         affine[:3, others[0]], affine[:3, others[1]]))
    return out


def _flips(shape: tuple[int, int]) -> Iterator[Callable[[np.ndarray], np.ndarray]]:
    """The 8 in-plane flips and transposes."""
    for transpose in (False, True):
        for fa in (1, -1):
            for fb in (1, -1):
                def flip(x: np.ndarray, transpose=transpose, fa=fa, fb=fb) -> np.ndarray:
                    x = x[::fa, ::fb]
                    return x.T if transpose else x
                yield flip


def verdict(slices: list[Slice], expected: dict[str, np.ndarray]) -> dict:
    """Compare a reader's slices with the file's frames: pixels first, then geometry."""
    values, origins = expected["values"], expected["origins"]
    tolerance = float(expected["tolerance"])
    normal = np.cross(expected["row_step"], expected["column_step"])
    normal /= np.linalg.norm(normal)
    found = [0] * len(values)
    stray, closest, geometry_mm = 0, 0.0, 0.0
    for sl in slices:
        match = None
        best = np.inf
        for flip in _flips(sl.values.shape):
            seen = flip(sl.values)
            for f, frame in enumerate(values):
                if seen.shape != frame.shape:
                    continue
                diff = float(np.max(np.abs(seen - frame)))
                best = min(best, diff)
                if diff <= tolerance:
                    match = f, flip
                    break
            if match:
                break
        if match is None:
            corners = sl.positions(np.array([0, sl.values.shape[0] - 1]), np.array([0, sl.values.shape[1] - 1]))
            if any(np.all(np.abs((corners - m) @ normal) < GEOMETRY_MM) for m in expected["missing"]):
                continue  # a slice where the grid's missing slot is: the reader filled the gap
            stray += 1
            closest = max(closest, best)
            continue
        f, flip = match
        found[f] += 1
        a, b = np.indices(sl.values.shape)
        a, b = flip(a), flip(b)  # the reader's index of each voxel (row j, column i) of the frame
        j, i = np.indices(values[f].shape)
        truth = origins[f] + j[..., None] * expected["row_step"] + i[..., None] * expected["column_step"]
        geometry_mm = max(geometry_mm, float(np.max(np.linalg.norm(sl.positions(a, b) - truth, axis=-1))))
    lost = sum(1 for n in found if n == 0)
    if lost or stray:
        text = f"{lost} of {len(values)} frames not found" if lost else f"{stray} slices not in the file"
        if np.isfinite(closest) and stray:
            text += f" (closest off by {closest:.4g})"
        return {"verdict": "wrong pixels", "detail": text}
    if geometry_mm > GEOMETRY_MM:
        return {"verdict": "wrong geometry", "detail": f"off by {geometry_mm:.3g} mm"}
    return {"verdict": "correct", "detail": f"{geometry_mm:.1g} mm" if geometry_mm else ""}


# ---------------------------------------------------------------- the readers (run in a worker)


def _functional(ds, frame: int, sequence: str):
    """A functional group macro of ``frame`` (0-based): per-frame first, then shared (PS3.3 C.7.6.16)."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and sequence in per_frame[frame]:
        return per_frame[frame][sequence][0]
    return ds.SharedFunctionalGroupsSequence[0][sequence][0]


def read_pydicom(path: Path) -> list[Slice]:
    """pydicom returns stored values and tags: rescale and each frame's plane from its functional groups."""
    import pydicom

    ds = pydicom.dcmread(path)
    stored = ds.pixel_array.reshape(int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    orientation = np.array(_functional(ds, 0, "PlaneOrientationSequence").ImageOrientationPatient, dtype=float)
    out = []
    for f, frame in enumerate(stored):
        t = _functional(ds, f, "PixelValueTransformationSequence")
        spacing = [float(v) for v in _functional(ds, f, "PixelMeasuresSequence").PixelSpacing]
        position = np.array(_functional(ds, f, "PlanePositionSequence").ImagePositionPatient, dtype=float)
        out.append(Slice(frame * float(t.RescaleSlope) + float(t.RescaleIntercept), position,
                         orientation[3:] * spacing[0], orientation[:3] * spacing[1]))
    return out


def read_converter(path: Path) -> list[Slice]:
    import pydicom

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import dicom_export_converter as converter

    ds = pydicom.dcmread(path)
    return volume_slices(converter.image_volume(ds), converter.dicom_affine_lps(ds), 2)  # [column, row, k]


def _itk_slices(image) -> list[Slice]:
    import SimpleITK as sitk

    values = sitk.GetArrayFromImage(image)  # [z, y, x]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = direction[:, ::-1] * np.array(image.GetSpacing())[::-1]  # index (z, y, x) -> LPS
    affine[:3, 3] = image.GetOrigin()
    return volume_slices(values, affine, 0)


def read_sitk(path: Path) -> list[Slice]:
    import SimpleITK as sitk

    return _itk_slices(sitk.ReadImage(str(path)))


def read_sitk_series(path: Path) -> list[Slice]:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(path.parent))
    if not names:
        raise RuntimeError("GetGDCMSeriesFileNames found no series")
    reader.SetFileNames(names)
    image = reader.Execute()
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:  # one multi-frame file: a 4-D image of one volume
        image = image[:, :, :, 0]
    return _itk_slices(image)


def read_nibabel(path: Path) -> list[Slice]:
    import warnings

    import pydicom
    from nibabel.nicom import dicomwrappers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel calls its DICOM readers experimental
        # wrapper_from_data picks this wrapper for Enhanced MR only (Enhanced CT gets the single-frame one)
        wrapper = dicomwrappers.MultiframeWrapper(pydicom.dcmread(path))
        return volume_slices(wrapper.get_data(), wrapper.affine, 2)  # [row, column, slice]


def read_highdicom(path: Path) -> list[Slice]:
    import highdicom as hd

    volume = hd.imread(str(path)).get_volume()
    return volume_slices(volume.array, volume.affine, 0)  # [slice, row, column]


def dcm2niix() -> str | None:
    """The dcm2niix the PyPI package installs next to this interpreter, else the one on PATH (Debian's)."""
    return shutil.which("dcm2niix", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                           os.environ.get("PATH", "")]))


class Crash(Exception):
    """The reader's own process died (a signal)."""


class Refused(Exception):
    """The reader ran and said why it wrote nothing (its own words)."""


def read_dcm2niix(path: Path) -> list[Slice]:
    import nibabel as nib

    binary = dcm2niix()
    if binary is None:
        raise RuntimeError("dcm2niix is not installed")
    with tempfile.TemporaryDirectory() as out:
        seconds = CELL_SECONDS * 3 // 4  # before the worker's own deadline: dcm2niix hung, the worker did not
        try:
            done = subprocess.run([binary, "-z", "n", "-b", "n", "-f", "out", "-o", out, str(path.parent)],
                                  capture_output=True, text=True, timeout=seconds)
        except subprocess.TimeoutExpired:
            raise Crash(f"dcm2niix gave no answer in {seconds} s") from None
        if done.returncode < 0:
            raise Crash(f"dcm2niix killed by signal {-done.returncode}")
        written = sorted(Path(out).glob("*.nii"))
        if not written:
            said = [line for line in (done.stdout + done.stderr).splitlines()
                    if any(w in line.lower() for w in ("error", "unsupported", "not supported"))]
            raise Refused((said or [f"no NIfTI written (exit {done.returncode})"])[0].strip())
        slices = []
        for nifti in written:  # several outputs (a tilt-corrected copy, say): all their slices
            image = nib.load(nifti)
            ras_to_lps = np.diag([-1.0, -1.0, 1.0, 1.0])
            slices += volume_slices(image.get_fdata(), ras_to_lps @ image.affine, 2)
        return slices


READ: dict[str, Callable[[Path], list[Slice]]] = {
    "pydicom alone": read_pydicom, "pydicom + plugins": read_pydicom,
    "example converter": read_converter, "SimpleITK ReadImage": read_sitk,
    "SimpleITK ImageSeriesReader": read_sitk_series, "nibabel": read_nibabel, "highdicom": read_highdicom,
    "dcm2niix": read_dcm2niix,
}


def short(error: BaseException) -> str:
    """One line of the reader's message: no source paths (ITK's), no list of plugins it could not import."""
    text = " ".join(re.sub(r"\S*/\S+\.\w+:\d+\s*(\(\))?:?", "", str(error)).split()) or type(error).__name__
    text = text.split(" because all plugins are missing dependencies")[0]  # pydicom then lists every plugin
    text = text if len(text) <= 160 else text[:157] + "..."
    return text if isinstance(error, Refused) else f"{type(error).__name__}: {text}"


def worker(reader: str, folders: list[str]) -> None:
    """Read each folder's file with ``reader`` and print one JSON line before and one after it."""
    if reader == "pydicom alone":
        for name in PLUGIN_MODULES:
            sys.modules[name] = None  # type: ignore[assignment]  # as if not installed: importing it fails
    import warnings

    warnings.simplefilter("ignore")
    for folder in folders:
        print(json.dumps({"start": folder}), flush=True)
        try:
            expected = dict(np.load(Path(folder) / "expected.npz"))
            answer = verdict(READ[reader](Path(folder) / "file.dcm"), expected)
        except Crash as error:
            answer = {"verdict": "crash", "detail": str(error)}
        except Exception as error:
            answer = {"verdict": "error", "detail": short(error)}
        print(json.dumps({"done": folder, **answer}), flush=True)


# ---------------------------------------------------------------- running the workers


def run_reader(reader: str, folders: list[str], worker_command: list[str] | None = None,
               seconds: float = CELL_SECONDS) -> dict[str, dict]:
    """Every folder's verdict for ``reader``; a worker that dies or gives no answer for ``seconds`` marks
    its file a crash and a new worker goes on with the rest.  ``worker_command`` (then the folders):
    this script's worker unless a test gives another."""
    command = worker_command or [sys.executable, __file__, "--worker", reader]
    results: dict[str, dict] = {}
    todo = list(folders)
    while todo:
        process = subprocess.Popen([*command, *todo], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream=process.stdout, lines=lines) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        threading.Thread(target=process.stderr.read, daemon=True).start()  # never let stderr fill its pipe
        current = None
        while True:
            try:
                line = lines.get(timeout=seconds)
            except queue.Empty:
                process.kill()
                results[current or todo[0]] = {"verdict": "crash", "detail": f"no answer in {seconds:g} s"}
                break
            if line is None:
                code = process.wait()
                if current is not None:
                    signal = f"signal {-code}" if code < 0 else f"exit {code}"
                    results[current] = {"verdict": "crash", "detail": f"the reader's process died ({signal})"}
                break
            message = json.loads(line)
            if "start" in message:
                current = message["start"]
            else:
                results[message.pop("done")] = message
                current = None
        process.wait()
        todo = [f for f in todo if f not in results]
    return results


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in dict.fromkeys(p for r in READERS for p in r.packages):
        if package == "dcm2niix" and dcm2niix():
            said = subprocess.run([dcm2niix(), "-v"], capture_output=True, text=True).stdout.split()
            found[package] = next((w for w in said if w.startswith("v1.")), said[-1] if said else "?")
            continue
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


@dataclass
class Table:
    variants: list[str]
    readers: list[str]
    cells: dict[tuple[str, str], dict]  # (reader, variant) -> verdict, detail
    versions: dict[str, str]
    seconds: float


def measure(variants: list[str] | None = None, readers: list[str] | None = None, jobs: int | None = None) -> Table:
    """Write every variant's file, run every reader on them (readers in parallel), collect the verdicts."""
    started = time.monotonic()
    variants = variants or variant_names()
    readers = readers or [r.name for r in READERS]
    with tempfile.TemporaryDirectory(prefix="lbmock-readers-") as tmp:
        folders = {v: str(Path(tmp) / v) for v in variants}
        for variant, folder in folders.items():
            write_case(variant, Path(folder))
        with ThreadPoolExecutor(jobs or os.cpu_count() or 2) as pool:
            by_reader = dict(zip(readers, pool.map(lambda r: run_reader(r, list(folders.values())), readers),
                                 strict=True))
    cells = {(r, v): by_reader[r][folders[v]] for r in readers for v in variants}
    return Table(variants, readers, cells, versions(), time.monotonic() - started)


# ---------------------------------------------------------------- Markdown




def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def markdown(table: Table) -> str:
    """The table (variants down, readers across), its notes (each error's message, once), the readers'
    versions and the legend."""
    notes: dict[str, int] = {}
    where: dict[str, list[str]] = {}

    def cell(reader: str, variant: str) -> str:
        answer = table.cells[reader, variant]
        text, detail = answer["verdict"], answer.get("detail", "")
        if text == "correct":
            return text
        text = f"**{text}**"  # what is not correct stands out
        if not detail:
            return text
        if answer["verdict"] == "wrong geometry":
            return f"{text} ({detail.removeprefix('off by ')})"
        n = notes.setdefault(detail, len(notes) + 1)
        where.setdefault(detail, []).append(f"{reader}: `{variant}`")
        return f"{text} [{n}]"

    out = ["| variant | " + " | ".join(table.readers) + " |", "| --- |" + " --- |" * len(table.readers)]
    for variant in table.variants:
        out.append(f"| `{variant}` | " + " | ".join(cell(r, variant) for r in table.readers) + " |")
    if notes:
        out.append("")
        for detail, n in notes.items():
            shown = where[detail] if len(where[detail]) <= 3 else [*where[detail][:3], "..."]
            out.append(f"{n}. {_escape(detail)} ({'; '.join(shown)})")
    out += ["", "**Readers** (versions this table was made with):", ""]
    for reader in READERS:
        if reader.name in table.readers:
            made = ", ".join(f"{p} {table.versions.get(p, '?')}" for p in reader.packages)
            out.append(f"* **{reader.name}** ({made}): {reader.how}.")
    out += ["", "**Legend**: *correct*: every frame's pixels (after the rescale) within half a stored step of the "
            "plain uncompressed file's, and every voxel where `lbmock oracle` puts it, within "
            f"{GEOMETRY_MM * 1000:g} µm; *wrong geometry (N mm)*: the pixels are right, some voxels are placed up to "
            "N mm from where they belong; *wrong pixels*: a frame of the file is missing or wrong, or the reader has "
            "a slice the file does not hold; *error*: the reader raised or wrote nothing (its message in the note); "
            f"*crash*: the reader's process died, or gave no answer in {CELL_SECONDS} s.", "",
            f"Made in {table.seconds:.0f} s on {os.cpu_count()} cores: one {SIZE[0]} x {SIZE[1]} x {FRAMES} file "
            f"a variant (`odd-sizes`: {ODD_SIZE[0]} x {ODD_SIZE[1]}), seed {SEED}, every reader in its own processes."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the Markdown table of DICOM reader x lbmock variant.")
    parser.add_argument("--variant", action="append", help="only this variant (repeatable; 'plain' too)")
    parser.add_argument("--reader", action="append", choices=[r.name for r in READERS],
                        help="only this reader (repeatable)")
    parser.add_argument("--jobs", type=int, default=None, help="readers run at once (default: the CPU count)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.worker[1:])
        return 0
    known = variant_names()
    unknown = sorted(set(args.variant or ()) - set(known))
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(known)}")
    print(markdown(measure(args.variant, args.reader, args.jobs)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
