"""The reader x variant table (docs/readers_table.py, published in docs/reference/readers.md): the facts
users rely on, measured with the real readers on every variant's file.

* every reader reads the plain file correctly;
* pydicom with the documented decoder plugins (lbmock's ``decoders`` extra), and the example
  converter's ``image_volume`` with them, read every variant correctly: pixels equal to the plain
  uncompressed file's, every voxel where the oracle puts it;
* pydicom alone fails on exactly the transfer syntaxes that need a plugin, and reads the rest;
* the table's judge tells wrong pixels and wrong geometry apart (doctored slices);
* a reader that crashes or hangs becomes a cell, and the other files are still read;
* the script runs by hand and prints the Markdown.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom.uid
import pytest

from lbmock.dicom.series import EXPLICIT_VR_LITTLE_ENDIAN, TRANSFER_SYNTAXES

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import readers_table  # noqa: E402

# pydicom's own decoders (no plugin): native, Deflated (zlib) and RLE Lossless; the JPEG family needs one
PYDICOM_ALONE_DECODES = {EXPLICIT_VR_LITTLE_ENDIAN, pydicom.uid.DeflatedExplicitVRLittleEndian, pydicom.uid.RLELossless}


@pytest.fixture(scope="module")
def table() -> readers_table.Table:
    return readers_table.measure(readers=["pydicom alone", "pydicom + plugins", "example converter"])


def test_the_readers_the_table_names_are_installed():
    """The [test] extra installs every reader, so the published table never shows a missing one."""
    missing = {p: v for p, v in readers_table.versions().items() if v == "not installed"}
    assert not missing
    assert readers_table.dcm2niix() is not None


def test_every_reader_reads_the_plain_file_correctly():
    plain = readers_table.measure(variants=[readers_table.PLAIN])
    wrong = {reader: answer for (reader, _), answer in plain.cells.items() if answer["verdict"] != "correct"}
    assert not wrong


def test_pydicom_with_the_plugins_and_the_example_converter_read_every_variant(table):
    assert table.variants == readers_table.variant_names()  # every variant, read at run time
    for reader in ("pydicom + plugins", "example converter"):
        wrong = {v: table.cells[reader, v] for v in table.variants if table.cells[reader, v]["verdict"] != "correct"}
        assert not wrong, reader


def test_pydicom_alone_fails_exactly_where_a_plugin_is_needed(table):
    for variant in table.variants:
        answer = table.cells["pydicom alone", variant]
        if TRANSFER_SYNTAXES.get(variant, EXPLICIT_VR_LITTLE_ENDIAN) in PYDICOM_ALONE_DECODES:
            assert answer["verdict"] == "correct", (variant, answer)
        else:
            assert answer["verdict"] == "error" and "decompress" in answer["detail"], (variant, answer)


def test_the_judge_tells_wrong_pixels_from_wrong_geometry(tmp_path):
    readers_table.write_case("missing-slice", tmp_path)
    expected = dict(np.load(tmp_path / "expected.npz"))
    slices = readers_table.read_pydicom(tmp_path / "file.dcm")
    assert readers_table.verdict(slices, expected)["verdict"] == "correct"
    # a transposed, flipped reader is still right when its geometry says so
    flipped = [dataclasses.replace(s, values=s.values.T[::-1], origin=s.origin + (s.values.shape[1] - 1) * s.step_b,
                                   step_a=-s.step_b, step_b=s.step_a) for s in slices]
    assert readers_table.verdict(flipped, expected)["verdict"] == "correct"
    # the same pixels a tenth of a millimetre off
    shifted = [dataclasses.replace(s, origin=s.origin + np.array([0, 0, 0.1])) for s in slices]
    assert readers_table.verdict(shifted, expected) == {"verdict": "wrong geometry", "detail": "off by 0.1 mm"}
    # frames placed one step along as a regular stack would (the missing slice ignored)
    stacked = [dataclasses.replace(s, origin=slices[0].origin + k * (slices[1].origin - slices[0].origin))
               for k, s in enumerate(slices)]
    assert readers_table.verdict(stacked, expected)["verdict"] == "wrong geometry"
    # one stored step off in one pixel; a frame lost; a slice the file does not hold
    step = 2 * float(expected["tolerance"])
    off = [dataclasses.replace(slices[0], values=slices[0].values + np.pad([[step]], [(0, s - 1) for s in
                                                                                       slices[0].values.shape]))]
    assert readers_table.verdict(off + slices[1:], expected)["verdict"] == "wrong pixels"
    assert readers_table.verdict(slices[1:], expected) == {"verdict": "wrong pixels",
                                                           "detail": f"1 of {len(slices)} frames not found"}
    # a slice in the grid's missing slot (a resampled volume's) is allowed; anywhere else it is not
    gap = dataclasses.replace(slices[0], values=np.zeros_like(slices[0].values), origin=expected["missing"][0])
    assert readers_table.verdict([*slices, gap], expected)["verdict"] == "correct"
    astray = dataclasses.replace(gap, origin=gap.origin + np.array([0, 0, 0.3]))
    assert readers_table.verdict([*slices, astray], expected)["verdict"] == "wrong pixels"


# A stand-in worker: answers "a", dies of SIGSEGV on "b", hangs on "c", answers the rest.
_WORKER = """
import json, os, signal, sys, time
for folder in sys.argv[1:]:
    print(json.dumps({"start": folder}), flush=True)
    if folder == "b":
        os.kill(os.getpid(), signal.SIGSEGV)
    if folder == "c":
        time.sleep(60)
    print(json.dumps({"done": folder, "verdict": "correct", "detail": ""}), flush=True)
"""


def test_a_reader_that_crashes_or_hangs_becomes_a_cell():
    results = readers_table.run_reader("stand-in", ["a", "b", "c", "d"], [sys.executable, "-c", _WORKER], seconds=3)
    assert results == {
        "a": {"verdict": "correct", "detail": ""},
        "b": {"verdict": "crash", "detail": "the reader's process died (signal 11)"},
        "c": {"verdict": "crash", "detail": "no answer in 3 s"},
        "d": {"verdict": "correct", "detail": ""},
    }


def test_the_script_prints_the_table_by_hand():
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "readers_table.py"), "--variant", "plain",
                           "--reader", "pydicom alone", "--reader", "nibabel"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "| variant | pydicom alone | nibabel |"
    assert lines[2] == "| `plain` | correct | correct |"
    assert "**Legend**" in done.stdout and "pydicom 3." in done.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "docs" / "readers_table.py"), "--variant", "nope"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and "unknown variant(s) nope" in bad.stderr and "Traceback" not in bad.stderr
