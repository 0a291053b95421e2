"""The systems ``kgjemb eval`` compares. A *system* is anything with ``name`` and
``rank_batch(queries, k) -> list[list[str]]`` (track ids best first). Every engine system is opened on the same
query-time snapshot (``export``: the bundle's graph, masked or not, see
:mod:`kgjemb.eval.mask`), so no system sees an edge the others do not.

* ``engine``: the full model's bundle, every signal on (the default
  :class:`~kgjemb.query.config.EngineConfig`).
* ``no-graph``: the text-only model's bundle (trained with ``--no-graph-positives``) with
  the graph signals off at query time (``SignalWeights`` ``graph`` = ``fact`` = 0): what a
  text-to-music retrieval system without a knowledge graph does.
* ``graph-train-only``: the full model's bundle, graph signals off (the graph helped
  training only).
* ``graph-query-only``: the text-only model's bundle, graph signals on (the graph helps at
  query time only).
* ``entity-only``: the full model's bundle with only the entity-vector signal (every other
  weight 0): "like X" queries use X's entity vector; attribute-only queries get no
  similarity signal (their parsed filters still apply, otherwise tracks come in id order).
* ``linear-metric`` (:class:`~kgjemb.eval.linear.LinearMetricSystem`): handcrafted audio
  features + a learned linear map, no text tower.
* ``random`` (:class:`RandomSystem`): a seeded random permutation per query.

The text-only bundle is given with ``--text-only-bundle DIR``; without it the two systems
that need it are skipped and the report says so.
"""
from __future__ import annotations

import dataclasses
import logging
import zlib
from typing import Protocol, Sequence

import numpy as np

from kgjemb.graph.base import GraphExport
from kgjemb.query.config import EngineConfig, SignalWeights
from kgjemb.query.engine import Engine

__all__ = ["SYSTEM_ORDER", "System", "EngineSystem", "RandomSystem", "engine_system", "no_graph_weights", "entity_only_weights"]

logger = logging.getLogger(__name__)

#: Row order of the systems in tables and plots.
SYSTEM_ORDER: tuple[str, ...] = ("engine", "no-graph", "graph-train-only", "graph-query-only", "entity-only",
                                 "linear-metric", "random")


class System(Protocol):
    name: str

    def rank_batch(self, queries: Sequence[str], k: int) -> list[list[str]]: ...


class EngineSystem:
    """An :class:`~kgjemb.query.engine.Engine` as a system: queries go through
    :meth:`Engine.rank_batch` (the ranking of ``search_batch``, without explanations) in batches of ``batch_size`` (64)."""

    def __init__(self, engine: Engine, name: str = "engine", batch_size: int = 64) -> None:
        self.engine = engine
        self.name = name
        self.batch_size = batch_size

    def rank_batch(self, queries: Sequence[str], k: int) -> list[list[str]]:
        out: list[list[str]] = []
        for i in range(0, len(queries), self.batch_size):
            out += self.engine.rank_batch(list(queries[i: i + self.batch_size]), k=k)
        return out


class RandomSystem:
    """Chance: each query ranks the tracks in a random order seeded by (seed, query)."""

    def __init__(self, track_ids: Sequence[str], seed: int = 0, name: str = "random") -> None:
        self.track_ids = list(track_ids)
        self.seed = seed
        self.name = name

    def rank_batch(self, queries: Sequence[str], k: int) -> list[list[str]]:
        out = []
        for q in queries:
            rng = np.random.default_rng([self.seed, zlib.crc32(q.encode("utf-8"))])
            order = rng.permutation(len(self.track_ids))[:k]
            out.append([self.track_ids[i] for i in order])
        return out


def no_graph_weights(base: SignalWeights) -> SignalWeights:
    """``base`` with the graph-proximity and attribute-fact signals off."""
    return dataclasses.replace(base, graph=0.0, fact=0.0)


def entity_only_weights(base: SignalWeights) -> SignalWeights:
    """Only the entity-vector signal: every other weight 0."""
    return dataclasses.replace(base, entity=1.0, audio=0.0, text=0.0, negation=0.0, graph=0.0, fact=0.0)


def engine_system(bundle, *, export: GraphExport, name: str, model=None, parser=None,
                  weights: SignalWeights | None = None, config: EngineConfig = EngineConfig()) -> EngineSystem:
    """An engine on ``bundle`` (a directory or an open :class:`~kgjemb.index.bundle.Bundle`)
    that queries the snapshot ``export``, with ``weights`` instead of ``config.weights``
    when given. ``model`` / ``parser`` reuse already-built ones (the parser must come from
    an engine on the same ``export``)."""
    cfg = config if weights is None else dataclasses.replace(config, weights=weights)
    return EngineSystem(Engine.open(bundle, config=cfg, model=model, parser=parser, export=export), name=name)
