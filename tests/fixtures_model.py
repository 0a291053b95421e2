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
