"""Sums for the graph walk: numpy's sorted group sums on small graphs, compiled scatter-sums
(numba) into a dense scratch on large ones.

A walk step pushes mass from a frontier along every out-entry of it and sums what each
node receives. With numpy that is a gather (``repeat`` + ``cumsum``), a product and a
sort of every touched entry (:func:`kgjemb.graph.csr.group_sum`). Compiled, one loop adds
each entry into a dense ``acc`` of the graph's size and notes the nodes it touches first;
a second one radix-sorts only those and reads and resets their sums: cost ∝ entries
touched plus distinct nodes, and no temporary of the graph's size. Both take every sum
in the same order (frontier order, then storage order), so they return the same arrays
bit for bit. On the 10^6-track synthetic graph of ``scripts/bench_query.py`` a walk from
an artist took 1.52–1.65 ms with numpy and 1.09–1.39 ms compiled, from a track
0.81–0.91 and 0.53–0.68 ms (paired runs, 100 anchors of each).

The compiled way costs ~1–2 s once per process (importing numba, setting up its
compiler, loading its on-disk cache; ~3.6 s compiling on the very first run), paid when
the pool is made (with the graph), not by the first query. ~2,500 walks at 10^6 tracks
repay it and walks over the demo graph (~0.1 ms each) never do: :class:`ScratchPool`
takes it for graphs of ``COMPILED_FROM`` nodes or more, where loading the graph already
takes seconds.

>>> pool = ScratchPool(5, compiled=True)
>>> with pool.take() as scratch:
...     nodes, sums = group_sum(np.array([3, 1, 3]), np.array([1.0, 2.0, 4.0]), scratch)
>>> nodes.tolist(), sums.tolist()
([1, 3], [2.0, 5.0])
"""
from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from kgjemb.graph import csr

__all__ = ["COMPILED_FROM", "Scratch", "ScratchPool", "group_sum", "push"]

#: graphs of this many nodes or more walk with the compiled sums (see the module's text)
COMPILED_FROM = 100_000


@functools.cache
def _kernels():
    import numba

    @numba.njit(cache=True, nogil=True)
    def finish(touched, bits, acc, seen):  # pragma: no cover - compiled
        # the touched nodes sorted (LSD radix sort, 11-bit digits: ~2x numpy's sort on
        # 2.5·10^4 ids below 2^21), then their sums read and the scratch reset
        a, b = touched.copy(), np.empty_like(touched)
        count = np.empty(2049, np.int64)
        for shift in range(0, bits, 11):
            count[:] = 0
            for i in range(len(a)):
                count[((a[i] >> shift) & 2047) + 1] += 1
            for d in range(2048):
                count[d + 1] += count[d]
            for i in range(len(a)):
                d = (a[i] >> shift) & 2047
                b[count[d]] = a[i]
                count[d] += 1
            a, b = b, a
        sums = np.empty(len(a))
        for j in range(len(a)):
            v = a[j]
            sums[j] = acc[v]
            acc[v] = 0.0
            seen[v] = False
        return a, sums

    @numba.njit(cache=True, nogil=True)
    def scatter(keys, weights, acc, seen):  # pragma: no cover - compiled
        touched = np.empty(len(keys), np.int64)
        m = 0
        for i in range(len(keys)):
            v = keys[i]
            if not seen[v]:
                seen[v] = True
                touched[m] = v
                m += 1
            acc[v] += weights[i]
        return touched[:m]

    @numba.njit(cache=True, nogil=True)
    def push_(indptr, indices, prob, cur, val, coef, acc, seen):  # pragma: no cover - compiled
        total = 0
        for i in range(len(cur)):
            total += indptr[cur[i] + 1] - indptr[cur[i]]
        touched = np.empty(total, np.int64)
        m = 0
        for i in range(len(cur)):
            f = coef * val[i]
            for p in range(indptr[cur[i]], indptr[cur[i] + 1]):
                v = indices[p]
                if not seen[v]:
                    seen[v] = True
                    touched[m] = v
                    m += 1
                acc[v] += f * prob[p]
        return touched[:m]

    return scatter, push_, finish


@functools.cache
def _warm() -> None:
    """Compile the kernels (or load them from numba's cache) for the walk's array types
    now: ~1.7 s from the cache and ~3.6 s compiling on a busy 2-core box, which belongs
    to loading a graph, not to its first query."""
    scratch = Scratch(2, np.zeros(2), np.zeros(2, dtype=np.bool_))
    indptr, indices = np.array([0, 1, 1], dtype=np.int64), np.array([1], dtype=np.int64)
    push(indptr, indices, np.ones(1), np.zeros(1, dtype=np.int64), np.ones(1), 0.5, scratch)
    group_sum(np.zeros(1, dtype=np.int64), np.ones(1), scratch)


@dataclass
class Scratch:
    """Dense sums over ``size`` nodes for one running walk: ``acc`` (float64 zeros) and
    ``seen`` (False), kept clean between uses; both None for numpy's sorted sums."""

    size: int
    acc: np.ndarray | None = None
    seen: np.ndarray | None = None

    @property
    def bits(self) -> int:
        """Bits of the largest node id (what the radix sort of touched nodes covers)."""
        return max(self.size - 1, 1).bit_length()


def group_sum(keys: np.ndarray, weights: np.ndarray, scratch: Scratch, *, runs: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``keys`` (in ``[0, scratch.size)``) and the sum of ``weights`` per
    key, added in the given order: :func:`kgjemb.graph.csr.group_sum` (``runs``: the keys
    are a few sorted runs, which its numpy way merges)."""
    if scratch.acc is None:
        return csr.group_sum(keys, weights, runs=runs, size=scratch.size)
    scatter, _, finish = _kernels()
    touched = scatter(np.ascontiguousarray(keys, dtype=np.int64), np.ascontiguousarray(weights, dtype=np.float64),
                      scratch.acc, scratch.seen)
    return finish(touched, scratch.bits, scratch.acc, scratch.seen)


def push(indptr: np.ndarray, indices: np.ndarray, prob: np.ndarray, cur: np.ndarray, val: np.ndarray,
         coef: float, scratch: Scratch) -> tuple[np.ndarray, np.ndarray]:
    """One walk step over the CSR arrays (``indptr``, ``indices``, ``prob``): every out-entry
    ``p`` of each frontier node ``cur[i]`` sends ``coef * val[i] * prob[p]`` to
    ``indices[p]``. Returns the sorted nodes reached and their sums."""
    if scratch.acc is None:
        owner, pos = csr.gather(indptr, cur)
        return csr.group_sum(indices[pos], coef * val[owner] * prob[pos], size=scratch.size)
    _, push_, finish = _kernels()
    touched = push_(indptr, indices, prob, np.ascontiguousarray(cur, dtype=np.int64),
                    np.ascontiguousarray(val, dtype=np.float64), float(coef), scratch.acc, scratch.seen)
    return finish(touched, scratch.bits, scratch.acc, scratch.seen)


class ScratchPool:
    """Scratch for walks over ``size`` nodes, lent one per running walk so that threads
    walking at once never share one. ``compiled`` (default: ``size >= COMPILED_FROM``):
    dense scratch for the compiled sums, else numpy's sorted sums. Each kernel leaves its
    scratch clean; one whose walk raised is dropped, not lent again."""

    def __init__(self, size: int, *, compiled: bool | None = None) -> None:
        self.size = int(size)
        self.compiled = self.size >= COMPILED_FROM if compiled is None else bool(compiled)
        self._free: list[Scratch] = []
        self._lock = threading.Lock()
        if self.compiled:
            _warm()

    @contextmanager
    def take(self) -> Iterator[Scratch]:
        if not self.compiled:
            yield Scratch(self.size)
            return
        with self._lock:
            scratch = self._free.pop() if self._free else None
        if scratch is None:
            scratch = Scratch(self.size, np.zeros(self.size), np.zeros(self.size, dtype=np.bool_))
        yield scratch  # an exception skips the return below: a scratch left dirty is dropped
        with self._lock:
            self._free.append(scratch)
