"""Cue words and time expressions the query parser recognises.

Cues are lower-cased token sequences matched on spaCy tokens (longest first):

- ``like``: "like", "similar to", "sounds like", "in the style of", … → the next words
  name a similarity anchor (an entity);
- ``by`` / ``not_by`` / ``exclude``: "by", "composed by" / "not by" / "exclude",
  "except", "other than", "anything but", … → the next words name an artist or work to
  filter on (``exclude`` followed by no entity becomes a negation: "anything but fast");
- ``neg``: "no", "not", "without", "less", "never", … → the rest of the clause is negated;
- ``boundary``: ",", ";", "but", "and", "or", "with", … → ends a phrase.

Time expressions are regular expressions over the raw query (:func:`find_time_filters`):

- decades: "from the 1720s" → ``year_range 1720-1729``; "the 70s" → ``1970-1979``; a
  decade ending in "00s" means the century ("the 1700s" → ``1700-1799``);
- centuries: "18th-century", "from the 18th century" → ``1700-1799``;
- bounds: "before 1800" → ``-1799``; "after 1750" → ``1751-``; "since 1750" → ``1750-``;
  "between 1700 and 1750", "from 1700 to 1750", "1700-1750" → ``1700-1750``;
  "in 1723" / "from 1723" → ``1723-1723``;
- eras, when phrased as a constraint: "from the baroque era", "of the renaissance
  period", "during the romantic era", "baroque-era", "from the baroque" → ``era``.
  A bare era word ("baroque chorale") stays an attribute phrase for the text tower.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable

from kgjemb.query.types import Filter

__all__ = [
    "CUES",
    "DEFAULT_ERAS",
    "DEGREE_WORDS",
    "ERA_YEARS",
    "GENERIC",
    "HARD_NEG",
    "LIST_JOINERS",
    "NEG_VERBS",
    "STOP_WORDS_UNKNOWN",
    "TIME_NEGATORS",
    "TRAIL_FILLER",
    "FILLER_WORDS",
    "KIND_NOUNS",
    "ONLY_WORDS",
    "RELATION_CUES",
    "TimeMatch",
    "find_time_filters",
]

#: cue kind -> token sequences (lower case), matched longest first.
CUES: dict[str, tuple[tuple[str, ...], ...]] = {
    "like": (
        ("like",), ("similar", "to"), ("similar", "with"), ("sounds", "like"), ("sound", "like"),
        ("sounding", "like"), ("in", "the", "style", "of"), ("in", "the", "vein", "of"),
        ("style", "of"), ("reminiscent", "of"), ("along", "the", "lines", "of"),
        ("more", "like"), ("inspired", "by"), ("in", "the", "manner", "of"),
    ),
    # "from Y" only counts when Y is an artist ("jigs from O'Neill"); else it stays a word
    "by": (("by",), ("composed", "by"), ("written", "by"), ("performed", "by"), ("from",)),
    "not_by": (("not", "by"), ("not", "composed", "by"), ("nothing", "by"), ("no", "songs", "by"),
               ("no", "tracks", "by"), ("no", "music", "by"), ("not", "from")),
    "exclude": (
        ("exclude",), ("excluding",), ("except",), ("except", "for"), ("other", "than"),
        ("apart", "from"), ("anything", "but"), ("everything", "but"), ("anything", "except"),
        ("everything", "except"), ("minus",), ("skip",), ("omit",), ("leave", "out"),
    ),
    "neg": (
        ("no",), ("not",), ("n't",), ("without",), ("with", "no"), ("with", "out"), ("less",),
        ("fewer",), ("never",), ("nothing",), ("avoid",), ("avoiding",), ("none",), ("non",),
        ("free", "of"), ("lacking",),
    ),
    "boundary": (
        (",",), (";",), (".",), ("!",), ("?",), ("but",), ("and",), ("or",), ("nor",), ("with",),
        ("plus",), ("&",), ("/",), ("yet",), ("though",), ("although",), ("while",), ("whilst",),
    ),
    # relation queries: the graph's related nodes become the anchors (see RELATION_CUES)
    "influenced_by": (("influenced", "by"), ("under", "the", "influence", "of"), ("followers", "of"),
                      ("disciples", "of"), ("students", "of"), ("pupils", "of")),
    "influenced": (("that", "influenced"), ("who", "influenced"), ("which", "influenced"),
                   ("influences", "of"), ("influences", "on")),
    "similar_artists": (("artists", "similar", "to"), ("artists", "like"), ("composers", "similar", "to"),
                        ("composers", "like"), ("similar", "artists", "to"), ("related", "artists", "of"),
                        ("artists", "related", "to")),
    "versions": (("other", "versions", "of"), ("versions", "of"), ("other", "renditions", "of"),
                 ("renditions", "of"), ("arrangements", "of"), ("other", "arrangements", "of"),
                 ("covers", "of"), ("other", "recordings", "of"), ("another", "version", "of")),
    "same_album": (("from", "the", "same", "album", "as"), ("on", "the", "same", "album", "as"),
                   ("same", "album", "as"), ("from", "the", "album", "of"), ("also", "on", "the", "album", "of")),
    "members": (("by", "members", "of"), ("by", "a", "member", "of"), ("members", "of"),
                ("by", "the", "members", "of")),
    "filler": (
        ("i", "like"), ("i", "'d", "like"), ("i", "would", "like"), ("we", "like"),
        ("you", "like"), ("i", "love"), ("i", "want"), ("give", "me"), ("show", "me"),
        ("find", "me"), ("play", "me"), ("looking", "for"), ("search", "for"),
    ),
}

#: cue kinds that are relation queries (a key of CUES each; the same names as
#: :data:`kgjemb.query.types.RELATIONS`)
RELATION_CUES: frozenset[str] = frozenset(
    {"influenced_by", "influenced", "similar_artists", "versions", "same_album", "members"}
)

#: a word that makes the attribute after it a hard filter ("only in 6/8", "only piano")
ONLY_WORDS: frozenset[str] = frozenset({"only", "exclusively", "strictly"})

#: Words dropped from the edges of phrases (they carry no sound description).
FILLER_WORDS: frozenset[str] = frozenset(
    """a an the some any me please play find recommend get give show something anything
    songs song tracks track pieces piece works tunes tune stuff that which is are sounds
    sound sounding ones one more kind sort of i want need just only 's ’s""".split()
)

#: Adverbs of degree stripped from the front of negated phrases ("not too fast" → "fast").
DEGREE_WORDS: frozenset[str] = frozenset(
    "too very so overly that much any particularly especially really all many heavy".split()
)

#: A noun right before a mention says which label to prefer ("the track X").
KIND_NOUNS: dict[str, str] = {
    "song": "Track", "track": "Track", "piece": "Track", "tune": "Track", "work": "Track",
    "album": "Album", "record": "Album", "lp": "Album", "opus": "Album", "collection": "Album",
    "artist": "Artist", "composer": "Artist", "band": "Artist", "group": "Artist",
    "performer": "Artist",
}

#: era words and their year spans (used when the graph has no ``era:`` attribute of that name)
ERA_YEARS: dict[str, tuple[int, int]] = {
    "medieval": (500, 1400), "renaissance": (1400, 1600), "early music": (500, 1600),
    "baroque": (1600, 1750), "early baroque": (1600, 1680), "late baroque": (1680, 1750),
    "classical": (1750, 1820), "romantic": (1800, 1910), "late romantic": (1850, 1920),
    "impressionist": (1875, 1925), "modern": (1900, 1975), "contemporary": (1975, 2100),
}

#: Era words recognised even when the graph has no ``era:`` attribute of that name.
DEFAULT_ERAS: tuple[str, ...] = tuple(ERA_YEARS)


#: negation cues that negate firmly ("no", "without"): their scope may carry over "and" + a noun
HARD_NEG = {("no",), ("without",), ("with", "no"), ("with", "out"), ("free", "of"), ("lacking",), ("none",), ("non",)}
#: words that end an unknown mention ("songs like Zzyzx on strings")
STOP_WORDS_UNKNOWN = {"on", "in", "for", "from", "at", "with", "played", "featuring", "over", "using", "during"}
TRAIL_FILLER = {"please", "songs", "tracks", "pieces", "tunes", "ones", "stuff"}
#: words that make a phrase on their own only noise ("music from the baroque era")
GENERIC = {"music", "sound", "sounds", "audio", "recording", "recordings", "artists", "artist", "composers",
           "musicians", "bands"}
#: verbs between a negation and what it negates ("don't want drums" → "drums")
NEG_VERBS = {"want", "need", "like", "include", "including", "have", "has", "feature", "featuring",
             "contain", "containing", "use", "using", "love", "do", "does", "any"}
#: words that join items of a list ("like Bach, Handel and Haydn")
LIST_JOINERS = frozenset({",", "and", "or", "nor", "&", "/"})
#: a word right before a time expression that negates it ("not before 1800")
TIME_NEGATORS = frozenset({"not", "no", "except", "excluding", "without", "n't"})


@dataclass(frozen=True)
class TimeMatch:
    """A time expression found in the query: its character span and the filter."""

    start: int
    end: int
    filter: Filter


def _year_ok(y: int) -> bool:
    return 500 <= y <= 2199


def _ordinal_century(n: int) -> str:
    return f"{(n - 1) * 100}-{n * 100 - 1}"


_PREP = r"(?:(?:from|in|of|during|around)\s+)?(?:the\s+)?"
_YEAR_PATTERNS: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), kind)
    for p, kind in (
        (r"\bbetween\s+(\d{4})\s+and\s+(\d{4})\b", "range"),
        (r"\bfrom\s+(\d{4})\s+(?:to|until|till|through)\s+(\d{4})\b", "range"),
        (r"\b(\d{4})\s*[-–]\s*(\d{4})\b", "range"),
        (_PREP + r"\b(\d{1,2})(?:st|nd|rd|th)[\s-]+century\b", "century"),
        (_PREP + r"(?:early\s+|late\s+|mid\s+)?\b(\d{2,3})0'?s\b", "decade"),
        (_PREP + r"'(\d)0s\b|" + _PREP + r"\b(\d)0s\b", "decade2"),
        (r"\b(?:before|pre|prior\s+to|earlier\s+than|until)[\s-]+(\d{4})\b", "before"),
        (r"\b(?:after|post|later\s+than)[\s-]+(\d{4})\b", "after"),
        (r"\bsince\s+(\d{4})\b", "since"),
        (r"\b(?:from|in|of)\s+(\d{4})\b", "year"),
    )
)


_DIGIT = re.compile(r"\d")


def _year_filter(kind: str, groups: tuple[str | None, ...]) -> str | None:
    vals = [g for g in groups if g is not None]
    if kind == "range":
        a, b = sorted(int(v) for v in vals)
        return f"{a}-{b}" if _year_ok(a) and _year_ok(b) else None
    if kind == "century":
        n = int(vals[0])
        return _ordinal_century(n) if 1 <= n <= 21 else None
    if kind == "decade":
        digits = vals[0]
        if len(digits) == 2:  # "1700s" is written as 3 digits + "0s"; "80s" is decade2
            return None
        start = int(digits) * 10
        if not _year_ok(start):
            return None
        return f"{start}-{start + 99}" if start % 100 == 0 else f"{start}-{start + 9}"
    if kind == "decade2":
        start = 1900 + int(vals[0]) * 10
        return f"{start}-{start + 9}"
    y = int(vals[0])
    if not _year_ok(y):
        return None
    return {"before": f"-{y - 1}", "after": f"{y + 1}-", "since": f"{y}-", "year": f"{y}-{y}"}[kind]


@functools.lru_cache(maxsize=32)  # one set of eras per graph: compile once
def _era_patterns(eras: tuple[str, ...]) -> list[re.Pattern]:
    words = sorted({e.lower() for e in eras if e}, key=len, reverse=True)
    alt = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return [
        re.compile(rf"\b(?:from|during)\s+(?:the\s+)?({alt})(?:[\s-]+(?:era|period|age))?\b", re.IGNORECASE),
        re.compile(rf"\b(?:of|in)\s+(?:the\s+)?({alt})[\s-]+(?:era|period|age)\b", re.IGNORECASE),
        re.compile(rf"\b({alt})[\s-]+(?:era|period|age)\b", re.IGNORECASE),
    ]


def find_time_filters(
    text: str,
    *,
    eras: Iterable[str] = DEFAULT_ERAS,
    era_ids: dict[str, str] | None = None,
    blocked: list[tuple[int, int]] = (),
) -> list[TimeMatch]:
    """Year, decade, century and era constraints in ``text``, non-overlapping, in order.

    ``era_ids`` maps a lower-case era name to its graph attribute id (``era:baroque``);
    ``blocked`` are character spans (e.g. matched titles such as "1812 Overture") that a
    time expression may not overlap.

    >>> [m.filter.value for m in find_time_filters("fugues from the 1720s, not before 1700")]
    ['1720-1729', '-1699']
    """
    era_ids = era_ids or {}
    taken: list[tuple[int, int]] = list(blocked)
    found: list[TimeMatch] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for pattern in _era_patterns(tuple(eras)):
        for m in pattern.finditer(text):
            if free(m.start(), m.end()):
                era = " ".join(m.group(1).lower().split())
                taken.append((m.start(), m.end()))
                found.append(TimeMatch(m.start(), m.end(), Filter(kind="era", value=era, node_id=era_ids.get(era))))
    for pattern, kind in _YEAR_PATTERNS if _DIGIT.search(text) else ():  # every year pattern needs a digit
        for m in pattern.finditer(text):
            if not free(m.start(), m.end()):
                continue
            value = _year_filter(kind, m.groups())
            if value is not None:
                taken.append((m.start(), m.end()))
                found.append(TimeMatch(m.start(), m.end(), Filter(kind="year_range", value=value)))
    return sorted(found, key=lambda t: t.start)
