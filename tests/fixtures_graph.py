"""Fixtures for the graph area (see tests/conftest.py).

- ``fixture_catalog``: Path to graph/fixtures/example (6 artists, 4 albums, 14 tracks,
  CSV + JSONL + Parquet tables, 13 short FLAC clips).
- ``defects_catalog``: Path to graph/fixtures/defects (one of each row-level defect);
  ``defects_files_catalog``: graph/fixtures/defects-files (file-level defects).
- ``embedded_store``: an empty EmbeddedGraphStore in a tmp dir (function scope).
- ``loaded_embedded_store``: the same with ``fixture_catalog`` loaded.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "graph" / "fixtures"


@pytest.fixture(scope="session")
def fixture_catalog() -> Path:
    return FIXTURES / "example"


@pytest.fixture(scope="session")
def defects_catalog() -> Path:
    return FIXTURES / "defects"


@pytest.fixture(scope="session")
def defects_files_catalog() -> Path:
    return FIXTURES / "defects-files"


@pytest.fixture
def embedded_store(tmp_path):
    from kgjemb.graph.embedded import EmbeddedGraphStore

    store = EmbeddedGraphStore(tmp_path / "graph")
    yield store
    store.close()


@pytest.fixture
def loaded_embedded_store(embedded_store, fixture_catalog):
    from kgjemb.catalog import catalog_to_rows, validate_catalog

    catalog, report = validate_catalog(fixture_catalog)
    if not report.valid:
        raise RuntimeError(f"fixture catalog is invalid: {report.errors}")
    embedded_store.upsert(catalog_to_rows(catalog), progress=False)
    return embedded_store
