"""Every file of a real bundle, corrupted every way: a BundleError naming the file, and
nothing outside the bundle directory is ever opened.

"Nothing outside is opened" is checked with a FIFO outside the bundle: opening one for
reading blocks until a writer comes, so a reader that followed a path out would hang; each
open runs in a thread that must finish (bounded join) and no writer is ever attached.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from kgjemb.errors import BundleError
from kgjemb.index.bundle import MANIFEST, Bundle, required_files
from kgjemb.query.engine import Engine


def _open_error(path: Path) -> str:
    """The BundleError message of opening ``path`` (in a thread; fails if it hangs or opens)."""
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            Bundle.open(path)
            outcome["err"] = None
        except BaseException as err:  # noqa: BLE001 - judged below
            outcome["err"] = err

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout=120)
    assert not t.is_alive(), "Bundle.open blocked: it opened the FIFO outside the bundle"
    err = outcome["err"]
    assert isinstance(err, BundleError), f"expected BundleError, got {err!r}"
    return str(err)


@pytest.fixture
def outside_fifo(tmp_path) -> Path:
    fifo = tmp_path / "outside" / "secret"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    return fifo


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / MANIFEST).read_text())


def _write_manifest(bundle: Path, manifest: dict) -> None:
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def test_every_file_flipped_truncated_or_deleted_is_named(bundle_copy):
    names = sorted(_manifest(bundle_copy)["files"])
    assert set(required_files()) <= set(names) and len(names) >= 25
    cases = 0
    for name in names:
        path = bundle_copy / name
        original = path.read_bytes()
        corruptions = {
            "flipped": lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 0xFF]) + b[len(b) // 2 + 1:] if b else b"x",
            "truncated": lambda b: b[: len(b) // 2],
            "appended": lambda b: b + b"\0",
        }
        for how, corrupt in corruptions.items():
            path.write_bytes(corrupt(original))
            msg = _open_error(bundle_copy)
            assert name in msg and "checksum" in msg, (name, how, msg)
            cases += 1
        path.unlink()
        msg = _open_error(bundle_copy)
        assert name in msg and "missing" in msg, (name, msg)
        path.write_bytes(original)
        cases += 1
    assert Bundle.open(bundle_copy).track_ids  # restored: opens again
    assert cases == 4 * len(names)


def test_manifest_must_list_every_file(bundle_copy):
    manifest = _manifest(bundle_copy)
    for files, expected in (({}, "empty"), (None, "no 'files' table"), ([], "no 'files' table")):
        _write_manifest(bundle_copy, {**manifest, "files": files})
        assert expected in _open_error(bundle_copy)
    # a file on disk the manifest does not list
    listed = dict(manifest["files"])
    del listed["vectors/tracks.npy"]
    _write_manifest(bundle_copy, {**manifest, "files": listed})
    msg = _open_error(bundle_copy)
    assert "tracks.npy" in msg and "not listed" in msg
    # a file the reader needs, gone from disk and manifest alike
    (bundle_copy / "vectors" / "tracks.npy").unlink()
    msg = _open_error(bundle_copy)
    assert "tracks.npy" in msg and "reader needs" in msg
    # an extra file nobody listed
    shutil.copy(bundle_copy / MANIFEST, bundle_copy / "extra.bin")
    _write_manifest(bundle_copy, manifest)
    assert "extra.bin" in _open_error(bundle_copy)
    (bundle_copy / MANIFEST).write_text("[" * 100_000)
    assert "manifest" in _open_error(bundle_copy)


@pytest.mark.parametrize("entry", ["../outside/secret", "../../outside/secret", "/etc/hostname", "index/../../outside/secret",
                                   "./index/ids.json", "index//ids.json", "C:/x", "a\\b"])
def test_manifest_entries_outside_the_bundle_are_refused_unread(bundle_copy, outside_fifo, entry):
    # the bundle sits at tmp/bundle, the FIFO at tmp/outside/secret
    manifest = _manifest(bundle_copy)
    _write_manifest(bundle_copy, {**manifest, "files": {**manifest["files"], entry: "0" * 64}})
    msg = _open_error(bundle_copy)
    assert "not a plain path inside the bundle" in msg and repr(entry)[1:21] in msg


def test_symlinks_are_refused_unfollowed(bundle_copy, outside_fifo, tmp_path):
    victim = bundle_copy / "vectors" / "tracks.npy"
    victim.unlink()
    victim.symlink_to(outside_fifo)
    msg = _open_error(bundle_copy)
    assert "tracks.npy" in msg and "symlink" in msg
    victim.unlink()
    # a symlinked directory, pointing at an identical copy outside
    moved = tmp_path / "outside" / "entities"
    shutil.move(bundle_copy / "entities", moved)
    (bundle_copy / "entities").symlink_to(moved)
    msg = _open_error(bundle_copy)
    assert "entities" in msg and "symlink" in msg
    # the manifest itself
    (bundle_copy / "entities").unlink()
    real = tmp_path / "outside" / "manifest.json"
    shutil.move(bundle_copy / MANIFEST, real)
    (bundle_copy / MANIFEST).symlink_to(real)
    assert "symlink" in _open_error(bundle_copy)


def test_engine_refuses_a_bundle_whose_checksums_are_off(bundle_copy):
    manifest = _manifest(bundle_copy)
    digest = hashlib.sha256(b"other").hexdigest()
    _write_manifest(bundle_copy, {**manifest, "files": {**manifest["files"], "index/ids.json": digest}})
    with pytest.raises(BundleError, match=r"ids\.json.*checksum"):
        Engine.open(bundle_copy)
