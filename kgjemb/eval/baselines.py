"""Baseline systems for ``kgjemb eval --baselines`` (same interface as
:class:`~kgjemb.eval.runner.EngineSystem`).

* :class:`RandomSystem`: a seeded random permutation of the indexed tracks per query.
* :func:`entity_only`: the engine with only the graph-entity signal (text, negation and
  audio weights 0): "like X" queries use X's entity vector; attribute-only queries get no
  similarity signal (their parsed filters still apply, otherwise tracks come in id order).
* :func:`text_only`: the engine on a bundle whose model was trained WITHOUT graph positives
  (``kgjemb train --no-graph-positives``).
* :class:`LinearMetricSystem` (:mod:`kgjemb.eval.linear`): handcrafted audio features +
  a learned linear map, no text tower.
"""
from __future__ import annotations

import dataclasses
import logging
import zlib
from typing import Sequence

import numpy as np

from kgjemb.eval.runner import EngineSystem

__all__ = ["RandomSystem", "entity_only", "text_only"]

logger = logging.getLogger(__name__)


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


def entity_only(engine, name: str = "entity-only") -> EngineSystem:
    """The same bundle with only entity signals (weights text = negation = audio = 0)."""
    from kgjemb.query.config import SignalWeights
    from kgjemb.query.engine import Engine

    cfg = dataclasses.replace(engine.config, weights=SignalWeights(entity=1.0, audio=0.0, text=0.0, negation=0.0))
    other = Engine(engine.bundle, model=engine.model, parser=engine.parser, config=cfg)
    return EngineSystem(other, name=name)


def text_only(bundle_dir, parser=None, name: str = "text-only") -> EngineSystem:
    """The engine on a bundle of the ablation model (trained without graph positives)."""
    from kgjemb.query.engine import Engine

    return EngineSystem(Engine.open(bundle_dir, parser=parser), name=name)
