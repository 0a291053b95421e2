"""``kgjemb.atomic``: every writer's temp-then-rename, in one place. A reader sees the old
file (or folder) or the new one; a failed writer leaves the target as it was and no temp
behind; killed writers' temps are removed once their process is gone."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from kgjemb.atomic import atomic_dir, atomic_open, atomic_path, remove_leftovers, write_bytes, write_text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_files_replace_the_target_or_leave_it(tmp_path):
    target = tmp_path / "deep" / "report.txt"  # the parent is created
    assert write_text(target, "first") == target and target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half of the second")
        raise RuntimeError("writer failed")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.txt"]  # no temp left
    write_bytes(target, b"\x00second")
    assert target.read_bytes() == b"\x00second"
    assert (target.stat().st_mode & 0o777) == 0o666 & ~_umask()  # not mkstemp's 0600
    with pytest.raises(ValueError, match="mode must contain 'w'"), atomic_open(target, "a"):
        pass


def test_a_path_writer_gets_the_targets_suffix(tmp_path):
    target = tmp_path / "vectors.npz"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".npz") and not tmp.exists()
        np.savez(tmp, x=np.arange(3))  # savez would append .npz to any other name
    assert np.load(target)["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors.npz"]
    with atomic_open(tmp_path / "graph.pkl", "wb", durable=True) as fh:
        fh.write(b"state")
    assert (tmp_path / "graph.pkl").read_bytes() == b"state"


def test_concurrent_writers_never_share_a_temp(tmp_path):
    target = tmp_path / "shared.txt"
    contents = [str(i) * 50_000 for i in range(8)]
    threads = [threading.Thread(target=write_text, args=(target, c)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_text() in contents  # one whole write, not a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.txt"]


def test_a_folder_replaces_the_previous_one_or_leaves_it(tmp_path):
    out = tmp_path / "bundle"
    with atomic_dir(out) as tmp:
        assert tmp.is_dir() and not out.exists()
        (tmp / "a").write_text("1")
    assert sorted(p.name for p in out.iterdir()) == ["a"]
    with pytest.raises(KeyboardInterrupt), atomic_dir(out) as tmp:
        (tmp / "b").write_text("2")
        raise KeyboardInterrupt
    assert sorted(p.name for p in out.iterdir()) == ["a"]  # untouched
    with atomic_dir(out) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["c"]  # the old folder is gone, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    assert (out.stat().st_mode & 0o777) == 0o777 & ~_umask()  # not mkdtemp's 0700


def test_leftovers_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "graph.pkl"
    script = ("import os, sys\nfrom kgjemb.atomic import atomic_dir, atomic_open\n"
              f"with atomic_open({str(target)!r}, 'wb') as fh:\n    fh.write(b'half')\n"
              f"    with atomic_dir({str(tmp_path / 'bundle')!r}) as d:\n        (d / 'x').write_text('1')\n"
              "        os._exit(0)\n")  # dies inside both blocks, as a SIGKILL would leave them
    subprocess.run([sys.executable, "-c", script], check=True, cwd=os.getcwd())
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and not target.exists(), left
    (tmp_path / "unrelated.tmp").write_text("keep")
    with atomic_path(target) as mine:  # a live writer (this process): its temp stays
        mine.write_bytes(b"in progress")
        assert remove_leftovers(target) != [] and mine.exists()
        assert remove_leftovers(tmp_path / "bundle") != []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.pkl", "unrelated.tmp"]
    assert remove_leftovers(tmp_path / "nowhere" / "x") == []
