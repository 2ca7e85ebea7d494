"""Caches keyed by everything that decides their bytes (mockserver/exports/keys.py): two worlds of
one seed, one plain and one ``--dicom-variant oblique``, served by ``lbmock serve`` from one folder
(one spool beside their state files), side by side and in turn, each get exactly their own bytes:
every row_data file against the DICOM writer on that world's row, every export against that world's
own rendering of the task."""

from __future__ import annotations

from pathlib import Path

import orjson
import requests

from lbmock.contract_tests.wire import HttpTransport, WireClient, start_serve
from lbmock.dicom.part10 import part10_bytes
from lbmock.mockserver.backend.backend import MockBackend
from lbmock.mockserver.backend.store import SharedState
from lbmock.mockserver.backend.tasks import RESULT, ExportTask
from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.exports.keys import world_key
from lbmock.strategies.served_world import resolve_world
from lbmock.world_spec import WorldSpec

SEED, ROWS = 5, 5
KEY = "5e" * 32  # one signing key: each world's expected export is rendered with the server's signatures
PARAMS = {"data_row_details": True, "label_details": True, "project_details": True}
WORLDS = {"plain": WorldSpec(seed=SEED, rows=ROWS),
          "oblique": WorldSpec(seed=SEED, rows=ROWS, dicom_variants=("oblique",))}


def serve(name: str, state: Path, log_dir: Path):
    variant = ["--dicom-variant", "oblique"] if name == "oblique" else []
    return start_serve("--seed", str(SEED), "--rows", str(ROWS), "--signing-key", KEY, "--state", str(state),
                       "--template-cache", "none", "--render-processes", "0", *variant, log_dir=log_dir,
                       name=f"{name}-{state.stem}")


def check_served(name: str, served, state: Path) -> int:
    """One export and every row's DICOM file, twice (the second from the caches), against the world's
    own renderers; returns how many files were compared."""
    world = resolve_world(WORLDS[name])
    wire = WireClient(HttpTransport(served.base_url), "cache-key-test", served.project_id, poll_interval=0)
    task_id = wire.create_export(PARAMS)
    wire.wait_for_task(task_id)
    owner, spec, reads, advanced = SharedState(str(state)).get_task(task_id)
    expected = b"".join(MockBackend(world, ServerConfig(signing_key=bytes.fromhex(KEY)))
                        .job(ExportTask.from_spec(task_id, owner, spec, reads, advanced), RESULT).lines())
    for _ in range(2):
        assert wire.stream(task_id).data == expected, f"{name}: another world's export"
    rows = {row.id: row for row in world}
    compared = 0
    for line in expected.splitlines():
        row = rows[orjson.loads(line)["data_row"]["id"]]
        url = orjson.loads(line)["data_row"]["row_data"]
        for _ in range(2):  # generated and kept, then sent from the volume cache
            body = requests.get(url, timeout=60).content
            assert body == part10_bytes(row), f"{name}: row {row.id} got another world's DICOM file"
            compared += 1
    return compared


def test_two_worlds_in_one_folder_get_their_own_bytes_side_by_side_and_in_turn(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    plain_state, oblique_state = folder / "plain.sqlite", folder / "oblique.sqlite"
    assert world_key(resolve_world(WORLDS["plain"])) != world_key(resolve_world(WORLDS["oblique"]))
    # side by side: one spool folder (beside both state files), both servers up
    with serve("plain", plain_state, tmp_path) as plain, serve("oblique", oblique_state, tmp_path) as oblique:
        assert check_served("plain", plain, plain_state)
        assert check_served("oblique", oblique, oblique_state)
        assert check_served("plain", plain, plain_state)  # after the other world filled the caches
    volumes = sorted((folder / "spool" / "volumes").glob("*.dcm"))
    assert len(volumes) == 2 * ROWS  # each world's files, under its own keys
    # in turn: the state file deleted, the same path restarted with the other variant
    for suffix in ("", "-wal", "-shm"):
        Path(f"{plain_state}{suffix}").unlink(missing_ok=True)
    with serve("oblique", plain_state, tmp_path) as again:
        assert check_served("oblique", again, plain_state)
