"""Run engine searches off the event loop, batching concurrent ones together.

Two dispatchers with one interface, ``await dispatcher.search(engine, request)``:

- :class:`MicroBatcher` collects searches that arrive within ``wait_ms`` of each other (up
  to ``max_size``) and answers each group of equal ``(engine, k, filters, explain)`` with ONE
  ``engine.search_batch`` call in a worker thread: the text tower encodes them together.
- :class:`ThreadDispatcher` runs one ``engine.search`` per request in the thread pool.

Neither holds a lock around FAISS; batches run concurrently on ``threads`` workers.
In process a batch of 32 distinct queries costs ~1/6 of 32 single searches, but over HTTP
on the shared 2-core test box batches stayed small (~2) and the thread pool measured equal
or better (``scripts/bench_serve.py --modes batching,threads``), so it is the default.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from kgjemb.query.engine import Engine
from kgjemb.query.types import Filter, SearchResult

__all__ = ["MicroBatcher", "ThreadDispatcher", "run_search", "run_search_batch"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Outcome = SearchResult | Exception


def run_search(engine: Engine, query: str, k: int, filters: list[Filter], explain: bool = True) -> SearchResult:
    """One search on ``engine`` (no filters: None, the engine's default)."""
    return engine.search(query, k=k, filters=filters or None, explain=explain)


def run_search_batch(engine: Engine, queries: list[str], k: int, filters: list[Filter],
                     explain: bool = True) -> list[Outcome]:
    """``engine.search_batch`` for a group sharing ``k``, ``filters`` and ``explain``; results or
    exceptions, one per query. A failing batch is retried query by query so that one bad
    query fails alone."""
    if len(queries) > 1:
        try:
            results = engine.search_batch(queries, k=k, filters=filters or None, explain=explain)
            if len(results) == len(queries):
                return list(results)
            logger.error("search_batch returned %d results for %d queries", len(results), len(queries))
        except Exception:  # noqa: BLE001 - isolate the culprit below
            logger.debug("search_batch failed; retrying %d queries one by one", len(queries), exc_info=True)
    out: list[Outcome] = []
    for q in queries:
        try:
            out.append(run_search(engine, q, k, filters, explain))
        except Exception as err:  # noqa: BLE001 - handed to the request that asked
            out.append(err)
    return out


def _filters_key(filters: list[Filter]) -> str:
    return json.dumps([f.model_dump() for f in filters], sort_keys=True) if filters else ""


class ThreadDispatcher:
    """One ``engine.search`` per request on a thread pool of ``threads`` workers."""

    def __init__(self, *, threads: int = 2) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kgjemb-engine")

    async def start(self) -> None:  # symmetric with MicroBatcher
        return None

    async def stop(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def search(self, engine: Engine, query: str, k: int, filters: list[Filter], *,
                     explain: bool = True) -> SearchResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, run_search, engine, query, k, filters, explain)

    async def call(self, fn: Callable[[], T]) -> T:
        """Any other engine call (parse, similar), as a closure, on the same pool."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)


@dataclass
class _Item:
    engine: Engine
    query: str
    k: int
    filters: list[Filter]
    explain: bool
    future: asyncio.Future
    key: tuple = field(init=False)

    def __post_init__(self) -> None:
        self.key = (id(self.engine), self.k, _filters_key(self.filters), self.explain)


class MicroBatcher(ThreadDispatcher):
    """Collect concurrent searches for up to ``wait_ms`` or ``max_size`` queries, then run
    each group of equal ``(engine, k, filters, explain)`` as one ``search_batch`` in a worker thread.

    At most ``threads`` batches run at once; while they do, new searches queue up and form
    the next batch, so batches grow with load. The collector waits ``wait_ms`` for more
    searches only while another batch is running: a lone request on an idle server does
    not wait at all.

    >>> batcher = MicroBatcher(wait_ms=2, max_size=32)   # doctest: +SKIP
    >>> await batcher.start(); result = await batcher.search(engine, "sad piano", 10, [])  # doctest: +SKIP
    """

    def __init__(self, *, wait_ms: float = 2.0, max_size: int = 32, threads: int = 2) -> None:
        super().__init__(threads=threads)
        self.wait_s = wait_ms / 1000.0
        self.max_size = max_size
        self.threads = threads
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self._slots: asyncio.Semaphore | None = None
        self._running: set[asyncio.Task] = set()
        self.on_batch: Callable[[int], None] | None = None  # metrics hook: batch size

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.threads)
        self._task = asyncio.create_task(self._collect(), name="kgjemb-microbatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for t in list(self._running):
            t.cancel()
        await super().stop()

    async def search(self, engine: Engine, query: str, k: int, filters: list[Filter], *,
                     explain: bool = True) -> SearchResult:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.search called before start()")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(engine, query, k, filters, explain, future))
        return await future

    async def _collect(self) -> None:
        queue, slots = self._queue, self._slots
        while True:
            await slots.acquire()
            try:
                batch = [await queue.get()]
                # Wait for company only while other batches run (load is high, more requests
                # are coming); an idle server answers a lone request at once.
                if self.wait_s > 0 and self._running and queue.qsize() < self.max_size - 1:
                    await asyncio.sleep(self.wait_s)
                while len(batch) < self.max_size and not queue.empty():
                    batch.append(queue.get_nowait())
            except BaseException:
                slots.release()
                raise
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Item]) -> None:
        try:
            live = [it for it in batch if not it.future.done()]  # timed-out callers are gone
            if not live:
                return
            if self.on_batch is not None:
                self.on_batch(len(live))
            groups: dict[tuple, list[_Item]] = {}
            for it in live:
                groups.setdefault(it.key, []).append(it)
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self.executor, self._work, list(groups.values()))
            for items, results in outcome:
                for it, res in zip(items, results):
                    if it.future.done():
                        continue
                    if isinstance(res, BaseException):
                        it.future.set_exception(res)
                    else:
                        it.future.set_result(res)
        except BaseException as err:  # executor shut down, cancelled: fail the callers
            for it in batch:
                if not it.future.done():
                    it.future.set_exception(err if isinstance(err, Exception) else RuntimeError("search cancelled"))
            if not isinstance(err, Exception):
                raise
        finally:
            self._slots.release()

    @staticmethod
    def _work(groups: list[list[_Item]]) -> list[tuple[list[_Item], list[Outcome]]]:
        out = []
        for items in groups:
            first = items[0]
            out.append((items, run_search_batch(first.engine, [it.query for it in items], first.k, first.filters,
                                                first.explain)))
        return out
