"""Name matching shared by every store, so that lookups give identical answers everywhere.

A :class:`NameIndex` is built from plain ``(label, id, name, aliases)`` records (the
embedded store passes its nodes, the Neo4j store the rows of one Cypher query) and answers
:meth:`GraphStore.lookup <kgjemb.graph.base.GraphStore.lookup>`:

1. ``exact``: the query equals a node's name/title after :func:`normalise_name`
   (Unicode NFKD, accents stripped, case-folded, whitespace collapsed);
2. ``alias``: the query equals one of an artist's aliases, normalised the same way;
3. ``fuzzy``: rapidfuzz ``WRatio`` of the normalised strings, at or above ``cutoff``
   (best of name and aliases per node).

Results: exact, then alias (each sorted by (label, id)), then fuzzy by descending score,
ties by (label, id); a node appears once, with its best kind of match.

>>> index = NameIndex([("Artist", "a1", "Antonín Dvořák", ["Dvorak"])])
>>> [m.how for m in index.lookup("antonin dvorak")]
['exact']
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from kgjemb.catalog.schema import NODE_LABELS
from kgjemb.graph.base import NameMatch

__all__ = ["NameIndex", "NameRecord", "normalise_name", "check_labels", "NAME_PROPERTY"]

#: (label, id, name, aliases)
NameRecord = tuple[str, str, str, Sequence[str]]

#: The property that holds each label's display name.
NAME_PROPERTY: dict[str, str] = {"Artist": "name", "Album": "title", "Track": "title", "Attribute": "name"}


@lru_cache(maxsize=65536)
def normalise_name(text: str) -> str:
    """Case-folded, accent-free, whitespace-collapsed form used for exact/alias matching.

    >>> normalise_name("  Antonín   DVOŘÁK ")
    'antonin dvorak'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def check_labels(labels: Iterable[str] | None) -> tuple[str, ...]:
    """Validate a label filter (None = all labels); unknown labels raise ``ValueError``
    listing the choices."""
    if labels is None:
        return NODE_LABELS
    if isinstance(labels, str):
        labels = [labels]
    out = tuple(labels)
    bad = [lb for lb in out if lb not in NODE_LABELS]
    if bad:
        raise ValueError(f"unknown label(s) {bad}; choose from {list(NODE_LABELS)}")
    return out


class NameIndex:
    """Exact, alias and fuzzy name look-up over ``(label, id, name, aliases)`` records.

    Build once per graph version (a few hundred ms per 100k names); ``lookup`` is a dict
    probe plus, when ``fuzzy``, one rapidfuzz scan over the normalised names.
    """

    def __init__(self, records: Iterable[NameRecord]) -> None:
        self._exact: dict[str, list[tuple[str, str, str]]] = {}
        self._alias: dict[str, list[tuple[str, str, str, str]]] = {}
        # fuzzy choices: parallel lists of normalised string and (label, id, name, matched)
        self._choices: list[str] = []
        self._owners: list[tuple[str, str, str, str]] = []
        for label, node_id, name, aliases in records:
            name = "" if name is None else str(name)
            key = normalise_name(name)
            if key:
                self._exact.setdefault(key, []).append((label, node_id, name))
                self._choices.append(key)
                self._owners.append((label, node_id, name, name))
            for alias in aliases or ():
                akey = normalise_name(str(alias))
                if akey:
                    self._alias.setdefault(akey, []).append((label, node_id, name, str(alias)))
                    self._choices.append(akey)
                    self._owners.append((label, node_id, name, str(alias)))

    def __len__(self) -> int:
        return len(self._choices)

    def lookup(
        self,
        name: str,
        *,
        labels: Iterable[str] | None = None,
        fuzzy: bool = True,
        limit: int = 10,
        cutoff: float = 80.0,
    ) -> list[NameMatch]:
        """Matches for ``name`` (see module docstring). ``labels`` restricts node labels
        (default: all); ``limit`` caps the answer (default 10); ``cutoff`` is the minimum
        fuzzy score, 0–100 (default 80)."""
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        if not 0 <= cutoff <= 100:
            raise ValueError(f"cutoff must be within 0..100, got {cutoff}")
        wanted = set(check_labels(labels))
        query = normalise_name(name or "")
        if not query:
            return []
        seen: set[tuple[str, str]] = set()
        exact = sorted((lb, i, n) for lb, i, n in self._exact.get(query, ()) if lb in wanted)
        out: list[NameMatch] = []
        for lb, i, n in exact:
            if (lb, i) not in seen:
                seen.add((lb, i))
                out.append(NameMatch(label=lb, id=i, name=n, matched=n, score=100.0, how="exact"))
        for lb, i, n, a in sorted(self._alias.get(query, ())):
            if lb in wanted and (lb, i) not in seen:
                seen.add((lb, i))
                out.append(NameMatch(label=lb, id=i, name=n, matched=a, score=100.0, how="alias"))
        if fuzzy and len(out) < limit and self._choices:
            from rapidfuzz import fuzz, process

            best: dict[tuple[str, str], tuple[float, str, str]] = {}
            hits = process.extract(query, self._choices, scorer=fuzz.WRatio, score_cutoff=cutoff, limit=None)
            for _, score, pos in hits:
                lb, i, n, matched = self._owners[pos]
                if lb not in wanted or (lb, i) in seen:
                    continue
                prev = best.get((lb, i))
                if prev is None or score > prev[0] or (score == prev[0] and matched < prev[2]):
                    best[(lb, i)] = (float(score), n, matched)
            ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0][0], kv[0][1]))
            for (lb, i), (score, n, matched) in ranked[: limit - len(out)]:
                out.append(NameMatch(label=lb, id=i, name=n, matched=matched, score=round(score, 4), how="fuzzy"))
        return out[:limit]
