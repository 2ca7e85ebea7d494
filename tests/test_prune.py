"""The one pruning rule the spool, the template cache and the volume cache share: the least
recently used files go first, until the rest fit."""

from __future__ import annotations

import os

from lbmock.mockserver.exports.spool import prune_least_recent


def files(tmp_path, sizes):
    """Files f0, f1, ... of these sizes, f0 the oldest."""
    paths = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"f{i}"
        path.write_bytes(b"x" * size)
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
        paths.append(path)
    return paths


def left(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


def test_at_most_max_files_the_newest(tmp_path):
    paths = files(tmp_path, [1] * 5)
    assert prune_least_recent(paths, max_files=2) == [paths[2], paths[1], paths[0]]
    assert left(tmp_path) == ["f3", "f4"]


def test_bytes_with_room_for_a_file_about_to_be_written_oldest_first(tmp_path):
    # newest first: 10 (f3) + 30 (f2) = 40, +5 to come = 45 <= 50; f1 (20) would not fit; f0 (1)
    # would, but it is older than a file that went: it goes too (least recently used first)
    paths = files(tmp_path, [1, 20, 30, 10])
    prune_least_recent(paths, max_bytes=50, adding_bytes=5)
    assert left(tmp_path) == ["f2", "f3"]


def test_both_bounds_and_a_file_already_gone(tmp_path):
    paths = files(tmp_path, [5, 5, 5, 5])
    paths[3].unlink()  # another worker pruned it meanwhile
    prune_least_recent(paths, max_files=3, max_bytes=8)
    assert left(tmp_path) == ["f2"]
    assert prune_least_recent([], max_files=0) == []
