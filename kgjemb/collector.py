"""Python's cyclic garbage collector around an engine's long-lived structures.

An engine over 10^6 tracks holds ~4.3 million tracked Python objects (id maps, name
tables, the parser's gazetteer) that live as long as it does. The collector cannot know
that: building them triggers full collections over everything built so far, and once
built, every full collection traverses them again. Measured on the 10^6-track synthetic
engine of ``scripts/bench_query.py`` (2 cores): one full collection took 1.6–1.7 s, a
pause every thread of a serving process waits out, and the graph snapshot took 26–27 s
to build with the collector on (1–3 full collections) against 20–21 s with it paused.

:func:`collector_paused` pauses it while an engine is built (``Engine.open``) and while a
catalog's rows are built and stored (~10^6 acyclic tuples and dicts, whose young-generation
passes cost 20–30 % of a build or upsert);
:func:`settle` collects once and then freezes whatever is alive (``gc.freeze``: moved to
a permanent generation that collections skip), which the HTTP service does after each
bundle load, so that the pause happens at load time, not in the middle of traffic.
Reference counting still frees frozen objects that are released; only cycles among them
wait for the next :func:`settle`, which unfreezes first.

>>> with collector_paused():
...     table = {str(i): [i] for i in range(1000)}
>>> import gc; gc.isenabled()
True
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from contextlib import contextmanager

__all__ = ["collector_paused", "settle"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_depth = 0  # callers inside collector_paused(), any thread
_was_enabled = False  # the collector's state when the first of them came in


@contextmanager
def collector_paused():
    """Pause the cyclic collector (process-wide) for the ``with`` block; nests and
    overlaps across threads: it comes back on when the last block ends, and only if it
    was on when the first began."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def settle() -> float:
    """Unfreeze, collect everything once (an engine just replaced goes now), then freeze
    what is alive. Returns the seconds it took (the one pause; ~1.7 s at 10^6 tracks)."""
    start = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    took = time.perf_counter() - start
    logger.info("collected once and froze %d objects in %.2f s", gc.get_freeze_count(), took)
    return took
