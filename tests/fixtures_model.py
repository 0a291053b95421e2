"""Fixtures for the model/training area (see tests/conftest.py).

* ``train_example_export`` / ``train_synth_export``: GraphExports of the hand-made fixture
  catalog (graph/fixtures/example) and of a 400-track synthetic catalog, loaded through
  the real catalog validator and embedded store.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def export_of_catalog(path, *, check_audio: bool = True):
    """Validate a catalog, load it into an in-memory embedded store, return its export."""
    from kgjemb.catalog.rows import catalog_to_rows
    from kgjemb.catalog.validate import validate_catalog
    from kgjemb.graph.embedded import EmbeddedGraphStore

    catalog, report = validate_catalog(path, check_audio_files=check_audio)
    if not report.valid:
        raise RuntimeError(f"fixture catalog {path} is invalid: {report}")
    store = EmbeddedGraphStore(None)
    store.upsert(catalog_to_rows(catalog), progress=False)
    return store.export()


@pytest.fixture(scope="session")
def train_example_export():
    return export_of_catalog(REPO / "graph" / "fixtures" / "example")


@pytest.fixture(scope="session")
def train_synth_export(tmp_path_factory):
    from kgjemb.catalog.synthetic import write_synthetic_catalog

    root = tmp_path_factory.mktemp("synth-400")
    write_synthetic_catalog(root, tracks=400, seed=3)
    return export_of_catalog(root, check_audio=False)


def _tree_digest(root: Path, h) -> None:
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())


def code_version() -> str:
    """Hash of the code a trained model depends on (train, model, audio packages)."""
    import hashlib

    h = hashlib.sha256()
    for pkg in ("train", "model", "audio", "graph", "catalog"):
        _tree_digest(REPO / "kgjemb" / pkg, h)
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def ci_graph_home(ci_catalog, tmp_path_factory) -> Path:
    """A kgjemb home whose embedded store holds the ``ci_catalog`` graph."""
    from kgjemb.catalog.rows import catalog_to_rows
    from kgjemb.catalog.validate import validate_catalog
    from kgjemb.graph.embedded import EmbeddedGraphStore
    from kgjemb.paths import graph_dir

    home = tmp_path_factory.mktemp("ci-home")
    catalog, report = validate_catalog(ci_catalog)
    if not report.valid:
        raise RuntimeError(f"ci_catalog {ci_catalog} is invalid: {report}")
    store = EmbeddedGraphStore(graph_dir(home))
    store.upsert(catalog_to_rows(catalog), progress=False)
    store.close()
    return home


#: the CI training config: the ``ci`` preset (3 epochs, tiny CNN, 1-2 s crops)
CI_TRAIN_OVERRIDES: dict = {}
TRAIN_CACHE = REPO / ".cache" / "train-cache"


@pytest.fixture(scope="session")
def trained_model_dir(ci_catalog, ci_graph_home) -> Path:
    """A model directory trained on ``ci_catalog`` with the ``ci`` preset (load it with
    ``kgjemb.model.load_model``). Cached under .cache/model-ci/<catalog+config+code hash>/;
    concurrent sessions take turns on a file lock. Also holds metrics.json (split ids,
    per-epoch losses and validation metrics), diagnostics.json and the PNG plots."""
    import fcntl
    import hashlib
    import json
    import os
    import shutil

    from kgjemb.graph.open import open_store
    from kgjemb.train.config import load_config
    from kgjemb.train.trainer import train

    cfg = load_config(preset="ci", overrides=CI_TRAIN_OVERRIDES)
    h = hashlib.sha256()
    for name in sorted(os.listdir(ci_catalog)):
        if name.endswith((".csv", ".jsonl", ".parquet")):
            h.update(name.encode())
            h.update((Path(ci_catalog) / name).read_bytes())
    h.update(Path(ci_catalog).name.encode())  # the demo builder keys its output by args + code
    h.update(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode())
    h.update(code_version().encode())
    out = REPO / ".cache" / "model-ci" / h.hexdigest()[:16]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "DONE").is_file():
            store = open_store(home=ci_graph_home)
            export = store.export()
            store.close()
            tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            train(export, cfg, out=tmp, cache_dir=TRAIN_CACHE, progress=False)
            (tmp / "DONE").write_text("ok\n")
            shutil.rmtree(out, ignore_errors=True)
            os.replace(tmp, out)
    return out
