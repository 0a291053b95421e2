"""The signals the graph itself scores: proximity to the anchors (a typed walk plus shared
attributes) and attribute facts. Each is a :class:`~kgjemb.query.fusion.Signal` whose
``score`` reads the query's :class:`~kgjemb.query.snapshot.GraphSnapshot`, plus the index
rows it proposes as candidates beside FAISS.

>>> sig, walk, rows = proximity_signal(snapshot, ["Artist:mozart"], config)  # doctest: +SKIP
"""
from __future__ import annotations

import math

import numpy as np

from kgjemb.graph import csr
from kgjemb.graph.proximity import WalkResult
from kgjemb.query.config import EngineConfig
from kgjemb.query.fusion import Signal
from kgjemb.query.snapshot import GraphSnapshot

__all__ = ["fact_signals", "proximity_raw", "proximity_signal"]


def proximity_raw(mass: np.ndarray, scale: float) -> np.ndarray:
    """Walk mass read as log(1 + mass / scale) / log(1 + 1 / scale), in [0, 1]: a track two
    hops away still scores clearly above an unreachable one."""
    return np.log1p(np.asarray(mass) / scale) / math.log1p(1.0 / scale)


def proximity_signal(snap: GraphSnapshot, anchors: list[str], config: EngineConfig
                     ) -> tuple[Signal, WalkResult, np.ndarray]:
    """One graph signal seeded from all ``anchors`` (``Label:id``): walk proximity plus
    ``rel_weights.has`` × cosine of attribute profiles. Returns the signal, the walk (for
    explanation paths) and the index rows of the walk's heaviest tracks (candidates)."""
    walk = snap.graph.walk({a: 1.0 for a in anchors}, config.walk)
    has_w = config.rel_weights.has
    profiles = [p for p in (snap.graph.profile(a) for a in anchors) if p is not None] if has_w > 0 else []
    profile = np.mean(profiles, axis=0) if profiles else None

    def score(rows: np.ndarray) -> np.ndarray:
        nodes = snap.row_node[rows]
        raw = np.where(nodes >= 0, proximity_raw(walk.score(np.maximum(nodes, 0)), config.proximity_scale), 0.0)
        if profile is not None:
            norm = snap.row_norm[rows]
            dot = csr.rows_dot(snap.row_attr, rows, profile)  # (n,)
            raw += has_w * dot / np.where(norm > 0, norm, 1.0)  # (n,) shared attributes
        return raw

    names = ", ".join(str(snap.names.get(a, a)) for a in anchors[:3]) + (" …" if len(anchors) > 3 else "")
    signal = Signal(f"graph:{names}", "graph", config.weights.graph, score=score,
                    ref=anchors[0] if len(anchors) == 1 else None)
    top, _ = walk.top("Track", config.graph_candidates)
    rows = snap.track_row[top]
    return signal, walk, rows[rows >= 0]


def fact_signals(snap: GraphSnapshot, facts: list[tuple[str, float, bool]], config: EngineConfig
                 ) -> tuple[list[Signal], list[str], list[np.ndarray]]:
    """One signal per attribute the query names (``(attribute id, link confidence,
    negated)``): + for asked, − for negated ones. Each weighs ``weights.fact`` × confidence ×
    specificity (idf relative to the query's most specific attribute: "piano" outweighs
    "slow"), so a track matching more of the asked attributes ranks higher. Returns the
    signals, the asked attribute ids, and candidate rows (tracks having an asked attribute,
    when few enough to score them all)."""
    if config.weights.fact <= 0:
        return [], [], []
    facts = [f for f in dict.fromkeys(facts) if f[0] in snap.attr_row]
    spec = dict(zip([f[0] for f in facts], snap.specificity([f[0] for f in facts])))
    signals, asked, rows = [], [], []
    for attr_id, confidence, negative in facts:
        def score(r, attr_id=attr_id):
            return snap.fact_scores(r, [attr_id], via_artist=config.fact_via_artist, unknown=config.fact_unknown)[:, 0]

        weight = config.weights.fact * confidence * float(spec[attr_id])
        shown = f"{'not ' if negative else ''}has:{attr_id}"
        signals.append(Signal(shown, "fact", weight, score=score, ref=attr_id, negative=negative))
        if not negative:
            asked.append(attr_id)
            having = snap.rows_having(attr_id, limit=config.exact_filter_max)
            if having is not None:
                rows.append(having)
    return signals, asked, rows
