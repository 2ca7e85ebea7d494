"""The wheel ships what users install: data folder inside lbmock, no top-level `fixtures`, the plugin."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contents(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("lbmock-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("fixtures/")]  # never shadow the PyPI package `fixtures`
    for schema in ("export_v2_dicom_row", "legacy_row", "frame_record"):
        assert f"lbmock/fixtures/schemas/{schema}.schema.json" in names
    assert "lbmock/fixtures/samples/v2_project_export_row.json" in names
    assert "lbmock/faker_pools.json" in names and "mockserver/gql/schema.graphql" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "lbmock = contract_tests.plugin" in entry_points and "lbmock = lbmock.cli:main" in entry_points
