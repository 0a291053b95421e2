"""Fixtures for the demo area (see tests/conftest.py).

- ``ci_catalog``: Path to a small real demo catalog (music21 scores rendered with
  fluidsynth): 7 works from each of Bach chorales, Ryan's Mammoth and O'Neill's fiddle
  tunes, Palestrina, Monteverdi and Mozart, plus the Joplin rag and the Chopin mazurka;
  8-second excerpts, ~25% of works with a second rendition (VERSION_OF). Built once
  and cached under .cache/demo-ci/<args+code hash>/ (re-runs reuse it; concurrent
  sessions take turns on a file lock). Track ids look like ``bach-bwv66.6``,
  ``bach-bwv66.6~organ`` (rendition), ``oneills-1850-170``, ``ryans-mammoth-acaciareel``.
- ``ci_catalog_config``: the BuildConfig it was built with.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CI_COLLECTIONS = ("bach", "ryansMammoth", "oneills1850", "palestrina", "monteverdi", "mozart", "joplin", "chopin")


@pytest.fixture(scope="session")
def ci_catalog_config():
    from kgjemb.demo.builder import BuildConfig

    return BuildConfig(collections=CI_COLLECTIONS, limit=7, seconds=8.0, jobs=2, seed=0, version_rate=0.25,
                       cache_dir=str(REPO / ".cache" / "demo-render"), progress=False)


@pytest.fixture(scope="session")
def ci_catalog(ci_catalog_config) -> Path:
    from kgjemb.demo.builder import build_catalog, code_version

    key = hashlib.sha256(json.dumps([ci_catalog_config.identity(), code_version()], sort_keys=True).encode())
    out = REPO / ".cache" / "demo-ci" / f"ci-{key.hexdigest()[:16]}"
    build_catalog(out, ci_catalog_config)
    return out
