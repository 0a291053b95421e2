"""Relevance rules: which tracks are relevant to a query, read off the graph.

A :class:`Rule` combines constraints (all must hold):

* ``attributes``: the track HAS every listed attribute (ids ``kind:value``, see
  :func:`kgjemb.catalog.schema.attribute_id`);
* ``any_attributes`` + ``min_match`` (1): the track has at least ``min_match`` of them;
  with ``graded: true`` its grade is the number it has (graded relevance);
* ``not_attributes``: the track has none of them;
* ``same_work_as``: same work as the track (connected over ``VERSION_OF``), itself excluded;
* ``same_artist_as``: shares a ``BY`` artist with the track, itself excluded;
* ``artist`` / ``exclude_artist``: by / not by the artist (id, name or alias, compared
  after :func:`kgjemb.graph.names.normalise_name`: case- and accent-insensitive).

A rule with no positive constraint (only ``not_attributes`` / ``exclude_artist``) is refused:
it would make almost every track relevant. Resolution works on a
:class:`~kgjemb.graph.base.GraphExport` (from any store, or a bundle's snapshot).

>>> facts = GraphFacts.from_export(export)  # doctest: +SKIP
>>> resolve(Rule(attributes=["instrument:violin"], not_attributes=["tempo:slow"]), facts)  # doctest: +SKIP
{'t_reel': 1.0, ...}
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kgjemb.catalog.schema import attribute_id
from kgjemb.errors import UnknownEntityError
from kgjemb.graph.base import GraphExport
from kgjemb.graph.names import fuzzy_extract, normalise_name
from kgjemb.train.split import work_components

__all__ = ["Rule", "GraphFacts", "resolve"]

logger = logging.getLogger(__name__)


class Rule(BaseModel):
    """Relevance rule of a suite row (see module docstring)."""

    model_config = ConfigDict(extra="forbid")

    attributes: list[str] = Field(default_factory=list)
    any_attributes: list[str] = Field(default_factory=list)
    min_match: int = Field(1, ge=1)
    graded: bool = False
    not_attributes: list[str] = Field(default_factory=list)
    same_work_as: str | None = None
    same_artist_as: str | None = None
    artist: str | None = None
    exclude_artist: str | None = None

    @model_validator(mode="after")
    def _positive(self) -> "Rule":
        if not (self.attributes or self.any_attributes or self.same_work_as or self.same_artist_as or self.artist):
            raise ValueError("a rule needs a positive constraint: attributes, any_attributes, "
                             "same_work_as, same_artist_as or artist")
        if self.graded and not self.any_attributes:
            raise ValueError("graded needs any_attributes (grade = how many of them a track has)")
        return self


def _norm_attr(a: str) -> str:
    if ":" not in a:
        raise ValueError(f"attribute {a!r} must be 'kind:value'")
    kind, value = a.split(":", 1)
    return attribute_id(kind, value)


@dataclass(frozen=True)
class GraphFacts:
    """Per-track sets the rules read, built once from an export."""

    track_ids: tuple[str, ...]
    attrs: dict[str, frozenset[str]]  # track -> attribute ids
    artists: dict[str, frozenset[str]]  # track -> artist ids
    work: dict[str, int]  # track -> work component
    artist_by_name: dict[str, str]  # normalised id / name / alias -> artist id
    attribute_ids: frozenset[str]

    @classmethod
    def from_export(cls, export: GraphExport) -> "GraphFacts":
        tracks = export.nodes["Track"]
        ids = tuple(str(t) for t in tracks["id"])
        attrs: dict[str, set] = {t: set() for t in ids}
        for s, d in zip(export.edges[("Track", "HAS", "Attribute")]["src"], export.edges[("Track", "HAS", "Attribute")]["dst"]):
            attrs.setdefault(s, set()).add(d)
        artists: dict[str, set] = {t: set() for t in ids}
        for s, d in zip(export.edges[("Track", "BY", "Artist")]["src"], export.edges[("Track", "BY", "Artist")]["dst"]):
            artists.setdefault(s, set()).add(d)
        work = dict(zip(ids, (int(w) for w in work_components(export))))
        by_name: dict[str, str] = {}
        art = export.nodes["Artist"]
        for i, name, aliases in zip(art["id"], art["name"], art.get("aliases", [None] * len(art))):
            by_name[normalise_name(str(i))] = i
            if isinstance(name, str):
                by_name.setdefault(normalise_name(name), i)
            if isinstance(aliases, str):
                for a in aliases.split("|"):
                    by_name.setdefault(normalise_name(a), i)
            elif isinstance(aliases, (list, tuple, np.ndarray)):
                for a in aliases:
                    by_name.setdefault(normalise_name(str(a)), i)
        return cls(
            track_ids=ids,
            attrs={t: frozenset(v) for t, v in attrs.items()},
            artists={t: frozenset(v) for t, v in artists.items()},
            work=work,
            artist_by_name=by_name,
            attribute_ids=frozenset(export.nodes["Attribute"]["id"]),
        )

    def artist_id(self, name_or_id: str) -> str:
        key = normalise_name(name_or_id)
        if key not in self.artist_by_name:
            close = [m[0] for m in fuzzy_extract(key, list(self.artist_by_name), cutoff=0, limit=5, scorer="wratio")]
            raise UnknownEntityError(f"Artist:{name_or_id}", close)
        return self.artist_by_name[key]

    def track(self, track_id: str) -> str:
        if track_id not in self.work:
            raise UnknownEntityError(f"Track:{track_id}", [m[0] for m in fuzzy_extract(track_id, list(self.work), cutoff=0, limit=5, scorer="wratio")])
        return track_id

    def check_attributes(self, ids: Iterable[str]) -> list[str]:
        out = [_norm_attr(a) for a in ids]
        unknown = [a for a in out if a not in self.attribute_ids]
        if unknown:
            close = [m[0] for m in fuzzy_extract(unknown[0], list(self.attribute_ids), cutoff=0, limit=5, scorer="wratio")]
            raise UnknownEntityError(f"Attribute:{unknown[0]}", close)
        return out


def resolve(rule: Rule, facts: GraphFacts, pool: Iterable[str] | None = None) -> dict[str, float]:
    """Grades ``{track_id: grade}`` of the tracks the rule makes relevant (grade 1 unless
    ``graded``), restricted to ``pool`` when given. Unknown attributes, artists or tracks
    raise :class:`~kgjemb.errors.UnknownEntityError` listing close names."""
    allowed = facts.track_ids if pool is None else [t for t in pool if t in facts.work]
    must = set(facts.check_attributes(rule.attributes))
    anyof = facts.check_attributes(rule.any_attributes)
    never = set(facts.check_attributes(rule.not_attributes))
    work = facts.work[facts.track(rule.same_work_as)] if rule.same_work_as else None
    peers = facts.artists[facts.track(rule.same_artist_as)] if rule.same_artist_as else None
    by = facts.artist_id(rule.artist) if rule.artist else None
    not_by = facts.artist_id(rule.exclude_artist) if rule.exclude_artist else None
    anchor = rule.same_work_as or rule.same_artist_as
    out: dict[str, float] = {}
    for t in allowed:
        a = facts.attrs[t]
        if not must <= a or (never & a):
            continue
        n_any = len(a.intersection(anyof))
        if anyof and n_any < rule.min_match:
            continue
        if work is not None and (facts.work[t] != work or t == rule.same_work_as):
            continue
        if peers is not None and (not (peers & facts.artists[t]) or t == rule.same_artist_as):
            continue
        if by is not None and by not in facts.artists[t]:
            continue
        if not_by is not None and not_by in facts.artists[t]:
            continue
        if anchor is not None and t == anchor:
            continue
        out[t] = float(n_any) if rule.graded else 1.0
    return out
