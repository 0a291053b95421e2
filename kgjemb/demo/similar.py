"""Derived ``SIMILAR_TO`` between artists from their tracks' attribute profiles.

Each artist is a vector of attribute counts over its tracks (kinds that describe the music,
not the rendition: form, mode, meter, texture, tempo, era); artists are compared by cosine,
and each keeps its ``top_k`` most similar others above ``threshold`` (source ``derived``).

>>> rows = derived_similar({"a": {"form:reel": 3}, "b": {"form:reel": 1}, "c": {"form:chorale": 2}})
>>> [(r["src"], r["dst"]) for r in rows]
[('a', 'b'), ('b', 'a')]
"""
from __future__ import annotations

import numpy as np

__all__ = ["PROFILE_KINDS", "derived_similar"]

PROFILE_KINDS: tuple[str, ...] = ("form", "mode", "meter", "texture", "tempo", "era")


def derived_similar(profiles: dict[str, dict[str, float]], *, top_k: int = 3,
                    threshold: float = 0.5) -> list[dict]:
    """Relations rows for each artist's ``top_k`` nearest artists with cosine ≥ ``threshold``.

    ``profiles`` maps artist id → {attribute id: count}. Output is sorted (src, -weight, dst).
    """
    if top_k < 1:
        raise ValueError(f"top_k must be positive, got {top_k}")
    ids = sorted(profiles)
    feats = sorted({f for p in profiles.values() for f in p})
    if len(ids) < 2 or not feats:
        return []
    col = {f: j for j, f in enumerate(feats)}
    x = np.zeros((len(ids), len(feats)))  # (artists, features)
    for i, a in enumerate(ids):
        for f, v in profiles[a].items():
            x[i, col[f]] = v
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T  # (artists, artists)
    np.fill_diagonal(sim, -1.0)
    rows = []
    for i, a in enumerate(ids):
        order = sorted(range(len(ids)), key=lambda j: (-round(sim[i, j], 6), ids[j]))[:top_k]
        for j in order:
            if sim[i, j] >= threshold:
                rows.append({"src": a, "type": "SIMILAR_TO", "dst": ids[j], "weight": round(float(sim[i, j]), 4),
                             "source": "derived", "role": None})
    return rows
