"""kgjemb: a knowledge-graph-augmented music similarity query engine.

>>> from kgjemb import Engine
>>> engine = Engine.open(".kgjemb/bundle")
>>> engine.search("pieces like Jesu, meine Freude but on strings, not slow", k=10).to_frame()
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Engine", "EngineConfig", "Hit", "SearchResult", "load_engine_config", "results_frame", "__version__"]


def __getattr__(name: str):
    # Lazy: `import kgjemb` (and `kgjemb --help`) must not import torch, faiss or spaCy.
    if name in ("Engine", "EngineConfig"):
        from kgjemb.query import engine

        return getattr(engine, name)
    if name == "load_engine_config":
        from kgjemb.query import config

        return config.load_engine_config
    if name in ("Hit", "SearchResult", "results_frame"):
        from kgjemb.query import types

        return getattr(types, name)
    raise AttributeError(f"module 'kgjemb' has no attribute {name!r}")
