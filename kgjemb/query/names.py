"""How names are written, and the forms they are looked up by.

``normalise`` is the key for fuzzy comparison (casefold, no accents, no punctuation);
``loose`` the one for "exact" equality (casefold, no accents, punctuation kept), matching
:class:`~kgjemb.graph.base.NameMatch`. Works get short titles as extra aliases, attributes
their singular/plural forms.
"""
from __future__ import annotations

import re
import unicodedata

import pandas as pd

__all__ = ["aliases_for", "as_list", "loose", "normalise", "plural_variants", "short_titles", "strip_accents"]

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Casefold, strip accents and punctuation, collapse spaces: the key names are compared on.

    >>> normalise("Jesu, meine  Freude!")
    'jesu meine freude'
    >>> normalise("Dvořák")
    'dvorak'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = _PUNCT.sub(" ", plain.casefold().replace("_", " "))
    return _SPACE.sub(" ", plain).strip()


def loose(text: str) -> str:
    """Casefolded, accent-free, whitespace-collapsed (punctuation kept): "exact" equality."""
    return " ".join(strip_accents(text).casefold().split())


def strip_accents(text: str) -> str:
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
        return tuple(t for t in short_titles(name) if normalise(t) not in attribute_names)
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
