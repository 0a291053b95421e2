"""Thread counts of the query path: FAISS's OpenMP pool, the BLAS pools and (when loaded)
torch, set by :class:`~kgjemb.query.config.EngineConfig` ``threads``.

One query's matrix products and searches are small: extra threads only spin. Measured with
``scripts/bench_serve.py --engine`` on the demo bundle (2 cores): 10.1 CPU ms a query with
the default pools, 5.7 with one thread, at the same latency.
"""
from __future__ import annotations

import sys
import threading

from kgjemb.index.faiss_index import import_faiss

__all__ = ["set_threads", "threads_here"]

_THREAD = threading.local()


def set_threads(n: int) -> None:
    """Set the query path's thread counts to ``n``: the BLAS pools numpy's matrix products
    use (OpenBLAS / MKL / OpenMP, through threadpoolctl; process-wide), FAISS's OpenMP count
    on the calling thread (:func:`threads_here`) and, only when torch is already loaded (a
    PyTorch text tower), torch's intra-op count. The ONNX query path never loads torch, so
    this does not import it."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    threads_here(n)
    threadpool_limits(limits=n)


def threads_here(n: int) -> None:
    """Give FAISS ``n`` OpenMP threads on the calling thread. The count is an OpenMP setting
    of each thread: :func:`set_threads` in :meth:`Engine.open` covers the opening thread
    only, and any other thread (serve's engine pool, an analyst's own pool) searched with
    the default (every core), whose idle OpenMP workers spin between searches: in ``serve``
    with one engine thread, 13 CPU ms a request instead of ~4. Once per thread."""
    if getattr(_THREAD, "omp", None) != n:
        import_faiss().omp_set_num_threads(n)
        _THREAD.omp = n
