"""Where kgjemb keeps its state: the home directory and the default locations inside it.

``--home`` on the CLI, else ``$KGJEMB_HOME``, else ``./.kgjemb``. Inside it:
``graph/`` (embedded store), ``model/`` (trained weights), ``bundle/`` (index bundle),
``cache/`` (audio features, text-encoder outputs).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["resolve_home", "graph_dir", "model_dir", "bundle_dir", "cache_dir"]


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    return Path(home or os.environ.get("KGJEMB_HOME") or ".kgjemb").expanduser().resolve()


def graph_dir(home: str | os.PathLike | None = None) -> Path:
    return resolve_home(home) / "graph"


def model_dir(home: str | os.PathLike | None = None) -> Path:
    return resolve_home(home) / "model"


def bundle_dir(home: str | os.PathLike | None = None) -> Path:
    return resolve_home(home) / "bundle"


def cache_dir(home: str | os.PathLike | None = None) -> Path:
    return resolve_home(home) / "cache"
