"""The published limits of a query, defined once: the engine, the CLI and the HTTP schema
all read them from here (bottom layer: imports nothing of kgjemb)."""
from __future__ import annotations

__all__ = ["MAX_QUERY_CHARS", "MAX_K", "MAX_BATCH_QUERIES"]

#: longest query text in characters
MAX_QUERY_CHARS = 1000
#: largest ``k`` a search may ask for
MAX_K = 1000
#: most queries in one batch request (the HTTP service may be configured lower)
MAX_BATCH_QUERIES = 1024
