"""The HTTP service for recommendation backends (FastAPI on uvicorn).

>>> from kgjemb.serve import ServeConfig, create_app
>>> app = create_app(".kgjemb/bundle", config=ServeConfig.from_env())  # doctest: +SKIP

Run it with ``kgjemb serve --bundle DIR`` (see :mod:`kgjemb.cli.serve`).
"""
from __future__ import annotations

import importlib

__all__ = ["ServeConfig", "app_from_env", "create_app"]

# Lazy: the app imports the engine (spaCy, FAISS, ONNX Runtime); the CLI reads ServeConfig for --help.
_WHERE = {"ServeConfig": "config", "app_from_env": "app", "create_app": "app"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"kgjemb.serve.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'kgjemb.serve' has no attribute {name!r}")
