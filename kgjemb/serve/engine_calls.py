"""Thin adapters from HTTP parameters to engine calls (run in worker threads)."""
from __future__ import annotations

import inspect

from kgjemb.query.types import Hit, SearchResult

__all__ = ["similar"]


def similar(engine, label: str, node_id: str, k: int) -> list[Hit]:
    """Neighbours of node ``node_id`` with graph label ``label`` (Track, Artist, Album,
    Attribute) as hits; the engine raises :class:`~kgjemb.errors.UnknownEntityError` with
    the closest ids when the node does not exist."""
    fn = engine.similar
    params = inspect.signature(fn).parameters
    if "label" in params:
        out = fn(node_id, k=k, label=label)
    elif "kind" in params:
        out = fn(node_id, k=k, kind=label)
    else:
        out = fn(node_id, k=k)
    return list(out.hits) if isinstance(out, SearchResult) else list(out)
