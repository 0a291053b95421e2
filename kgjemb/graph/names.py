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

Two keys, both defined here and nowhere else: :func:`normalise_name` (exact/alias
equality: punctuation kept) and :func:`match_key` (fuzzy comparison: punctuation dropped).
:func:`fuzzy_extract` is the one fuzzy scan (rapidfuzz) over prepared keys.

>>> index = NameIndex([("Artist", "a1", "Antonín Dvořák", ["Dvorak"])])
>>> [m.how for m in index.lookup("antonin dvorak")]
['exact']
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import pandas as pd
from rapidfuzz import fuzz, process

from kgjemb.catalog.schema import NODE_LABELS
from kgjemb.graph.base import NameMatch

__all__ = ["NameIndex", "NameRecord", "normalise_name", "match_key", "strip_accents", "as_list", "aliases_for",
           "plural_variants", "short_titles", "fuzzy_extract", "check_labels", "NAME_PROPERTY"]

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
    return " ".join(strip_accents(text).casefold().split())


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


_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def match_key(text: str) -> str:
    """Casefold, strip accents and punctuation, collapse spaces: the key names are compared on.

    >>> match_key("Jesu, meine  Freude!")
    'jesu meine freude'
    >>> match_key("Dvořák")
    'dvorak'
    """
    plain = _PUNCT.sub(" ", strip_accents(text).casefold().replace("_", " "))
    return _SPACE.sub(" ", plain).strip()


def strip_accents(text: str) -> str:
    """``text`` without combining marks, after NFKD ("Dvořák" → "Dvorak"); ASCII text is
    returned as it is (NFKD leaves ASCII unchanged), which is most names."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def as_list(value) -> list[str]:
    """Aliases arrive as a list, a ``|``-separated string, or missing."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split("|") if v.strip()]
    if isinstance(value, float) and pd.isna(value):
        return []
    try:
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    except TypeError:
        return [str(value)]


def aliases_for(label: str, name: str, listed, attribute_names: set[str]) -> tuple[str, ...]:
    """An artist's listed aliases; for albums and tracks, their short titles ("Jesu, meine
    Freude (BWV 358)" → "Jesu, meine Freude"), unless a short title is an attribute name."""
    if label == "Artist":
        return tuple(as_list(listed))
    if label in ("Album", "Track"):
        return tuple(t for t in short_titles(name) if match_key(t) not in attribute_names)
    return ()


def plural_variants(name: str) -> list[str]:
    """Singular/plural forms of an attribute name, on its last word ("drum" ↔ "drums",
    "string quartet" → "string quartets")."""
    head, _, last = name.rpartition(" ")
    if len(last) < 3 or not last.isalpha():
        return []
    if last.endswith("ss"):
        variant = last + "es"
    elif last.endswith("s"):
        variant = last[:-1]
    else:
        variant = last + "s"
    return [f"{head} {variant}" if head else variant]


#: a trailing catalog number: ", BWV 227", " BWV 358", " K. 155: II", " Op. 6 No. 2", " HWV 56"
_CATALOG_SUFFIX = re.compile(
    r"[,;]?\s+(?:BWV|HWV|TWV|RV|KV|K\.?|Op\.?|Opus|D\.?|Hob\.?|WoO|S\.?|L\.?|BuxWV|SWV)\s*\d[\w.\-/]*"
    r"(?:\s*(?:,\s*)?No\.?\s*\d+\w*)?(?:\s*:\s*[IVXLC]+\b.*)?$"
)
_NICKNAME = re.compile(r"""(?:^|(?<=\s))['‘"“]([^'’"”]{3,}?)['’"”](?=$|[\s:,;.)])""")


def _strip_parenthetical(title: str) -> str | None:
    """Title without its trailing balanced "( … )" group, or None if it has none."""
    t = title.rstrip()
    if not t.endswith(")"):
        return None
    depth = 0
    for k in range(len(t) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(t[k], 0)
        if depth == 0:
            head = t[:k].rstrip(" ,;:-")
            return head or None
    return None


def short_titles(title: str) -> list[str]:
    """Shorter names a work is asked for by: without a trailing parenthetical or catalog
    number, and its quoted nickname. Generic "<form> <number>" titles ("Chorale BWV 145.5"
    → "Chorale") give nothing: a form word is not the name of one work.

    >>> short_titles("Jesu, meine Freude (BWV 358)")
    ['Jesu, meine Freude']
    >>> short_titles("String Quartet K. 458 'The Hunt': I")
    ['The Hunt']
    >>> short_titles("Chorale BWV 145.5")
    []
    """
    out: list[str] = []
    current = title.strip()
    for _ in range(3):  # "Largo (string quartet)", "Jesu, meine Freude, BWV 227 (organ)"
        shorter = _strip_parenthetical(current)
        if shorter is None:
            match = _CATALOG_SUFFIX.search(current)
            shorter = current[: match.start()].rstrip(" ,;:-") if match else None
            if shorter is not None and len(shorter.split()) < 2:
                shorter = None  # "Cantata BWV 145" → "Cantata": a genre, not a name
        if not shorter or shorter == current:
            break
        out.append(shorter)
        current = shorter
    out += [m.group(1).strip() for m in _NICKNAME.finditer(title)]
    return [t for i, t in enumerate(out) if len(t) >= 3 and any(c.isalpha() for c in t) and t not in out[:i]]


def fuzzy_extract(query: str, choices, *, cutoff: float = 80.0, limit: int | None = 5,
                  scorer: str = "ratio") -> list[tuple[str, float, int]]:
    """The one fuzzy scan: ``(choice, score 0-100, position)`` for the ``choices`` (already
    normalised keys) scoring at least ``cutoff`` against ``query``, best first.
    ``scorer``: ``"ratio"`` (plain edit ratio, ~8x faster; the parser's) or ``"wratio"``
    (rapidfuzz's weighted ratio, tolerant of extra words; the stores' name look-up).

    >>> fuzzy_extract("bethoven", ["beethoven", "bach"], cutoff=80)[0][:2]
    ('beethoven', 94.11764705882354)
    """
    fn = {"ratio": fuzz.ratio, "wratio": fuzz.WRatio}.get(scorer)
    if fn is None:
        raise ValueError(f"unknown scorer {scorer!r}; choose from ['ratio', 'wratio']")
    return [(c, float(s), p) for c, s, p in process.extract(query, choices, scorer=fn, score_cutoff=cutoff, limit=limit)]


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
            best: dict[tuple[str, str], tuple[float, str, str]] = {}
            hits = fuzzy_extract(query, self._choices, cutoff=cutoff, limit=None, scorer="wratio")
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
