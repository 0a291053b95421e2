"""Fixtures for the bundle area (see tests/conftest.py).

``ci_export``: the ci catalog loaded into an in-memory embedded store, exported.
``bundle_dir``: a real FAISS bundle built from ``trained_model_dir`` and ``ci_export``,
cached under ``.cache/bundles/v<format>-<model checksum>-<graph digest>`` (reused while both match
and its checksums verify). ``engine``: an :class:`~kgjemb.query.engine.Engine` on it.
``bundle_copy``: a private copy for tests that modify or corrupt a bundle.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ci_export(ci_catalog):
    from kgjemb.catalog import catalog_to_rows, validate_catalog
    from kgjemb.graph.embedded import EmbeddedGraphStore

    catalog, report = validate_catalog(Path(ci_catalog))
    assert report.valid, [str(p) for p in report.problems[:5]]
    store = EmbeddedGraphStore(None)
    store.upsert(catalog_to_rows(catalog), progress=False)
    return store.export()


@pytest.fixture(scope="session")
def bundle_dir(trained_model_dir, ci_export) -> Path:
    from kgjemb.errors import BundleError
    from kgjemb.index.builder import BuildConfig, build_bundle, graph_digest
    from kgjemb.index.bundle import FORMAT_VERSION, Bundle
    from kgjemb.model import load_model

    model = load_model(trained_model_dir)
    name = f"v{FORMAT_VERSION}-{model.checksum()[:16]}-{graph_digest(ci_export)[:16]}"
    path = ROOT / ".cache" / "bundles" / name
    if (path / "manifest.json").is_file():
        try:
            Bundle.verify(path)
            return path
        except BundleError:
            pass  # stale or damaged cache: rebuild below
    return build_bundle(path, model_dir=trained_model_dir, export=ci_export, config=BuildConfig(progress=False), model=model)


@pytest.fixture(scope="session")
def engine(bundle_dir):
    from kgjemb.query.engine import Engine

    return Engine.open(bundle_dir)


@pytest.fixture
def bundle_copy(bundle_dir, tmp_path) -> Path:
    """A private copy of the session bundle (to modify, corrupt or update)."""
    dst = tmp_path / "bundle"
    shutil.copytree(bundle_dir, dst)
    return dst
