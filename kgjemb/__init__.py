"""kgjemb: a knowledge-graph-augmented music similarity query engine.

>>> from kgjemb import Engine
>>> engine = Engine.open(".kgjemb/bundle")
>>> engine.search("pieces like Jesu, meine Freude but on strings, not slow", k=10).to_frame()
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Engine", "EngineConfig", "Hit", "SearchResult", "__version__"]


def __getattr__(name: str):
    # Lazy: `import kgjemb` (and `kgjemb --help`) must not import torch, faiss or spaCy.
    if name in ("Engine", "EngineConfig"):
        from kgjemb.query import engine

        return getattr(engine, name)
    if name in ("Hit", "SearchResult"):
        from kgjemb.query import types

        return getattr(types, name)
    raise AttributeError(f"module 'kgjemb' has no attribute {name!r}")
