"""Turn ranked candidate rows into :class:`~kgjemb.query.types.Hit` objects with explanations.

For each hit: title, credited artists (primary first), album, the fused score, each
signal's contribution (they sum to the score), the query entity that contributed most
(``matched_entity``) with the graph path that carried most of the hit's proximity score,
the query's attributes the track HAS (directly or through its artist), and one sentence
saying all that, e.g.::

    0.912 = like 'Jesu, meine Freude' 0.610 + graph 'Jesu, meine Freude' 0.402 − not 'slow' 0.100;
    path: 'Jesu, meine Freude (organ)' —VERSION_OF→ 'Jesu, meine Freude';
    has: instrument:strings
"""
from __future__ import annotations

from collections.abc import Set as AbstractSet

import numpy as np

from kgjemb.graph.proximity import WalkResult
from kgjemb.query.fusion import Signal
from kgjemb.query.snapshot import GraphSnapshot
from kgjemb.query.types import ArtistHit, Hit

__all__ = ["make_artist_hits", "make_hits"]


def _signal_words(snapshot: GraphSnapshot, name: str, have: AbstractSet[str]) -> str:
    """How the sentence names signal ``name``; ``have``: the attributes the hit's track has
    (a fact signal's score on a track without the attribute is the unknown-kind share:
    "genre unknown", not "has genre:…")."""
    kind, _, what = name.partition(":")
    if kind in ("like", "audio"):
        label_name = snapshot.names.get(what, what)
        shown = f"'{label_name}'" if what.startswith(("Track:", "Album:")) else label_name
        return f"{'like' if kind == 'like' else 'sounds like'} {shown}"
    if kind == "graph":
        return f"graph near {what}"
    if kind in ("has", "not has"):
        return f"has {what}" if what in have else f"{what.partition(':')[0]} unknown (asked {what})"
    return f"{kind} '{what}'"


def _sentence(snapshot: GraphSnapshot, score: float, contrib: dict[str, float],
              have: AbstractSet[str] = frozenset()) -> str:
    """``score = term + term − term``: the signals that moved the score (one shown as 0.000
    adds nothing and read wrongly: "+ has vocal:vocal 0.000" for a track *without* the
    vocals a query asked to avoid; ``signals`` still lists every one). ``have``: the
    attributes of the hit's track, which fact signals are worded by."""
    terms = " ".join(
        f"{'+' if v >= 0 else '−'} {_signal_words(snapshot, name, have)} {abs(v):.3f}" for name, v in contrib.items()
        if abs(v) >= 0.0005
    ).lstrip("+ ")
    if terms:
        return f"{score:.3f} = {terms}"
    return f"{score:.3f} (every signal 0)" if contrib else f"{score:.3f} (filters only)"


def make_hits(rows: np.ndarray, scores: np.ndarray, parts: np.ndarray, signals: list[Signal], *,
              snapshot: GraphSnapshot, walk: WalkResult | None, facts: list[str], explain: bool = True) -> list[Hit]:
    """Hits for index ``rows`` (best first) with their fused ``scores`` ``(m,)`` and
    per-signal contributions ``parts`` ``(m, n_signals)``; ``walk`` is the query's graph
    walk (None without anchors), ``facts`` the attribute ids the query asks for.

    ``explain=False``: no sentence and no path; ``matched_entity`` is still the anchor the
    hit's strongest path ends at (:meth:`WalkResult.ends`: from one anchor, without tracing
    paths)."""
    table = snapshot.tracks
    track_ids = [snapshot.track_ids[r] for r in rows]
    ref_cols = [j for j, s in enumerate(signals) if s.ref is not None and s.kind in ("entity", "audio")]
    graph_col = next((j for j, s in enumerate(signals) if s.kind == "graph"), None)
    wanted = set(facts)
    # a track's attributes: for matched_attributes, and for the sentence's fact terms (negated ones too)
    need_attrs = bool(wanted) or (explain and any(s.kind == "fact" for s in signals))
    keys = [f"Track:{tid}" for tid in track_ids]
    paths = walk.paths(keys) if walk is not None and explain else None
    ends = walk.ends(keys, paths) if walk is not None else [None] * len(keys)
    hits = []
    names = [s.name for s in signals]
    # Python floats once (not a numpy scalar per cell), rounded as before: round(float, 6)
    part_rows, score_list = np.asarray(parts).tolist(), np.asarray(scores).tolist()
    for m, tid in enumerate(track_ids):
        row = part_rows[m]
        contrib = {name: round(v, 6) for name, v in zip(names, row)}
        path = paths[m] if paths is not None and len(paths[m]) > 1 else []  # one node: the anchor itself
        matched = ends[m]
        if matched is None and ref_cols:
            matched = signals[max(ref_cols, key=lambda j: row[j])].ref
        have = table.attributes(tid) if need_attrs else frozenset()
        attrs = sorted(wanted & have)
        if explain:
            why = [_sentence(snapshot, score_list[m], contrib, have)]
            if path and (graph_col is None or row[graph_col] > 0):
                why.append(f"path: {snapshot.render(path)}")
            if attrs:
                why.append(f"has: {', '.join(attrs)}")
        else:
            why = []
        album = table.album.get(tid)
        hits.append(
            Hit(
                track_id=tid,
                title=table.title.get(tid) or tid,
                artists=[table.artist_name.get(a) or a for a in table.credits.get(tid, [])],
                album=table.album_title.get(album) if album else None,
                score=round(score_list[m], 6),
                signals=contrib,
                matched_entity=matched,
                path=path,
                matched_attributes=attrs,
                explanation="; ".join(why),
            )
        )
    return hits


def make_artist_hits(rows: np.ndarray, scores: np.ndarray, parts: np.ndarray, signals: list[Signal], *,
                     snapshot: GraphSnapshot, walk: WalkResult, artist_ids) -> list[ArtistHit]:
    """Artist hits for Artist-label ``rows`` (best first), explained like track hits."""
    out = []
    aids = [str(artist_ids[r]) for r in rows]
    paths = walk.paths([f"Artist:{aid}" for aid in aids])
    for m, (aid, path) in enumerate(zip(aids, paths)):
        contrib = {s.name: round(float(parts[m, j]), 6) for j, s in enumerate(signals)}
        why = [_sentence(snapshot, float(scores[m]), contrib)]
        if len(path) > 1:
            why.append(f"path: {snapshot.render(path)}")
        out.append(ArtistHit(artist_id=aid, name=str(snapshot.names.get(f"Artist:{aid}", aid)),
                             score=round(float(scores[m]), 6), signals=contrib, path=path if len(path) > 1 else [],
                             explanation="; ".join(why)))
    return out
