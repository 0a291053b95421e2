"""The HTTP service for recommendation backends (FastAPI on uvicorn).

>>> from kgjemb.serve import ServeConfig, create_app
>>> app = create_app(".kgjemb/bundle", config=ServeConfig.from_env())  # doctest: +SKIP

Run it with ``kgjemb serve --bundle DIR`` (see :mod:`kgjemb.cli.serve`).
"""
from __future__ import annotations

from kgjemb.serve.app import app_from_env, create_app
from kgjemb.serve.config import ServeConfig

__all__ = ["ServeConfig", "app_from_env", "create_app"]
