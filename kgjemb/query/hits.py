"""Turn ranked candidate rows into :class:`~kgjemb.query.types.Hit` objects with explanations.

For each hit: title, credited artists (primary first), album, the fused score, each
signal's contribution (they sum to the score), the query entity that contributed most
(``matched_entity``) with the graph path linking hit and entity, the query's attribute
phrases whose attribute nodes the track HAS (directly or through its artist), and one
sentence saying all that, e.g.::

    0.912 = like 'Jesu, meine Freude' 0.610 + text 'on strings' 0.402 − not 'slow' 0.100;
    path: 'Wachet auf' —BY→ Johann Sebastian Bach ←BY— 'Jesu, meine Freude';
    has: instrument:strings
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kgjemb.query.types import Hit

if TYPE_CHECKING:
    from kgjemb.query.engine import Engine, _Plan

__all__ = ["make_hits"]


def _signal_words(engine: "Engine", name: str) -> str:
    kind, _, what = name.partition(":")
    if kind in ("like", "audio"):
        label_name = engine.paths.names.get(what, what)
        shown = f"'{label_name}'" if what.startswith(("Track:", "Album:")) else label_name
        return f"{'like' if kind == 'like' else 'sounds like'} {shown}"
    return f"{kind} '{what}'"


def make_hits(engine: "Engine", plan: "_Plan", rows: np.ndarray, scores: np.ndarray, parts: np.ndarray) -> list[Hit]:
    """Hits for ``rows`` (index rows, best first) with their fused ``scores`` ``(m,)`` and
    per-signal contributions ``parts`` ``(m, n_signals)``."""
    table, paths = engine.table, engine.paths
    track_ids = [engine.track_ids[r] for r in rows]
    hit_keys = [f"Track:{t}" for t in track_ids]
    # one breadth-first search per anchor, stopping once every hit is reached
    found = {a: paths.paths(a, hit_keys, max_hops=engine.config.max_path_hops) for a in plan.anchors}
    query_attrs = engine.attributes.find(plan.parsed.phrases)
    query_attrs |= {e.id for e in plan.parsed.entities if e.label == "Attribute" and e.role == "like" and e.id}
    entity_cols = [j for j, s in enumerate(plan.signals) if s.ref is not None]
    hits = []
    for m, (tid, key) in enumerate(zip(track_ids, hit_keys)):
        contrib = {s.name: round(float(parts[m, j]), 6) for j, s in enumerate(plan.signals)}
        matched, path = None, []
        if entity_cols:
            best = max(entity_cols, key=lambda j: parts[m, j])
            ref = plan.signals[best].ref
            matched = ref
            path = found.get(ref, {}).get(key, [])
            if not path:  # the strongest anchor is far away: show the nearest linked one
                for a in plan.anchors:
                    if key in found.get(a, {}):
                        matched, path = a, found[a][key]
                        break
        attrs = sorted(query_attrs & table.attributes(tid))
        album = table.album.get(tid)
        terms = " ".join(
            f"{'+' if v >= 0 else '−'} {_signal_words(engine, name)} {abs(v):.3f}" for name, v in contrib.items()
        ).lstrip("+ ")
        why = [f"{float(scores[m]):.3f} = {terms}" if terms else f"{float(scores[m]):.3f} (filters only)"]
        if path:
            why.append(f"path: {paths.render(path)}")
        if attrs:
            why.append(f"has: {', '.join(attrs)}")
        hits.append(
            Hit(
                track_id=tid,
                title=table.title.get(tid) or tid,
                artists=[table.artist_name.get(a) or a for a in table.credits.get(tid, [])],
                album=table.album_title.get(album) if album else None,
                score=round(float(scores[m]), 6),
                signals=contrib,
                matched_entity=matched,
                path=path,
                matched_attributes=attrs,
                explanation="; ".join(why),
            )
        )
    return hits
