"""Settings of the query engine: fusion method, per-signal weights, candidate budgets."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kgjemb.errors import ConfigError
from kgjemb.graph.proximity import WALK_ENTRIES_KEPT, RelWeights, WalkConfig
from kgjemb.limits import MAX_QUERY_CHARS

__all__ = ["EngineConfig", "FUSION_METHODS", "NORMALISATIONS", "RelWeights", "SignalWeights", "WalkConfig",
           "load_engine_config", "changed_settings"]

#: the largest engine config file read (a settings file, not data)
MAX_CONFIG_BYTES = 1 << 20

FUSION_METHODS = ("weighted", "rrf")
NORMALISATIONS = ("minmax", "zscore", "none")


@dataclass(frozen=True)
class SignalWeights:
    """Weight of each kind of signal in the fused score. Several signals of one kind
    (two "like" anchors, three phrases) share their kind's weight equally; attribute facts
    are the exception: each weighs ``fact`` × link confidence × specificity (its idf over
    the query's most specific attribute's), so matching more asked attributes ranks higher.

    ``entity``: similarity to a linked artist/album/track's entity vector (1.0);
    ``audio``: similarity to a linked track's own audio vector (0.5); ``text``: similarity
    to an attribute phrase through the text tower (1.0); ``negation``: similarity to a
    negated phrase, *subtracted* (0.5); ``graph``: proximity to the query's anchors by a
    personalised walk over the typed graph, plus shared attributes (1.25); ``fact``: the
    track HAS an attribute the query names (directly, or through its artist at a lower
    weight), or *subtracted* when the query negates it (1.5). 0 switches a kind off:
    ``SignalWeights(graph=0, fact=0)`` is the engine without the graph at query time.

    ``graph`` was 1.0 until the demo suites were scored at 1.25 on three training seeds:
    nDCG@10 +0.0014 overall (p = 0.010, paired over 944 seed × query pairs), +0.0092 on
    entity queries (p = 0.014), no kind lower by more than 0.0004; and a model trained on
    another CPU had ranked a stated rendition second to a same-composer track by 0.007.
    """

    entity: float = 1.0
    audio: float = 0.5
    text: float = 1.0
    negation: float = 0.5
    graph: float = 1.25
    fact: float = 1.5

    def __post_init__(self) -> None:
        for name in ("entity", "audio", "text", "negation", "graph", "fact"):
            if getattr(self, name) < 0:
                raise ValueError(f"weight {name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class EngineConfig:
    """How :class:`~kgjemb.query.engine.Engine` turns signals into a ranking.

    ``fusion``: ``"weighted"`` (default) = sum over signals of weight × normalised
    similarity, negations subtracted; ``"rrf"`` = reciprocal-rank fusion, sum of
    weight / (``rrf_k`` + rank), ranks taken over the candidate union by exact similarity.
    ``normalise``: how each signal's raw cosines are rescaled over the candidate union
    before weighting: ``"minmax"`` (default; best candidate 1, worst 0, a constant signal
    0), ``"zscore"`` (mean 0, std 1) or ``"none"`` (raw cosine).
    ``overfetch``: each vector signal fetches its ``k × overfetch`` nearest tracks among
    those passing the query's filters (10, at least ``min_candidates`` = 100; the filter
    is evaluated inside the index). ``exact_filter_max``: when filters allow at most this
    many tracks (5,000) all of them are scored exactly instead.
    ``exclude_anchors``: tracks named as "like X" anchors are left out of their own
    results (True). ``rel_weights``: weight of each relationship type in the graph walk
    (:class:`~kgjemb.graph.proximity.RelWeights`: VERSION_OF 4, ON/BY/SIMILAR_TO/MEMBER_OF 1,
    INFLUENCED_BY 0.7, shared attributes 0.1; a type's share at a node also grows with its
    edges there, ``type_degree_power`` 0.5: with 0, Bach's 3 similar artists took half his
    mass from his 400 tracks and "pieces like Jesu, meine Freude" ranked a Handel aria
    first; demo suites, nDCG@10 at mask 0 / 0.5 / 1: γ 0 0.883 / 0.749 / 0.582, γ 0.5
    0.897 / 0.763 / 0.593, γ 1 0.898 / 0.768 / 0.593, "like X" queries 0.905 → 0.981);
    ``walk``: restart (0.3), steps (4, also the longest explanation path), frontier cap
    and ``min_mass`` (1e-4: nodes holding less push no further; the same demo figures as
    the exact walk, 1e-3 lowers "like X" by 0.006) of the walk; ``proximity_scale``: walk mass
    is read as log(1 + mass / scale) / log(1 + 1 / scale) (1e-3; 1e-5 and a graph weight of 2 measured
    slightly lower on the demo suites), so that a track two hops
    away still scores clearly above an unreachable one; ``graph_candidates``: tracks the
    walk adds to the candidate union (200); ``walks_kept``: array entries of the walks the
    graph keeps for repeated anchors (2·10^6 ≈ 32 MB; ~40 artists' walks at 10^6 tracks, ~570
    on the demo graph; 0 keeps none); ``fact_via_artist``: weight of an attribute a
    track has only through its artist (0.5); ``fact_unknown``: fact score of a track with no
    attribute of the asked kind at all, i.e. unknown rather than known-other (0.5). ``threads``: when
    set, :meth:`Engine.open` sets FAISS's, the BLAS pools' and (if loaded) torch's thread
    counts process-wide (:func:`~kgjemb.query.threads.set_threads`; None: leave them). One thread is the fastest for single queries on a busy machine: the
    thread pools' spin-waits can cost 100x on tiny inputs (measured: MiniLM on two short
    phrases 2 ms with 1 thread, 0.5 s with 2 under load 8 on 2 cores).

    >>> EngineConfig(fusion="rrf", weights=SignalWeights(audio=0.0))  # doctest: +ELLIPSIS
    EngineConfig(fusion='rrf', ...)
    """

    fusion: str = "weighted"
    normalise: str = "minmax"
    weights: SignalWeights = field(default_factory=SignalWeights)
    rrf_k: int = 60
    overfetch: int = 10
    min_candidates: int = 100
    exact_filter_max: int = 5000
    exclude_anchors: bool = True
    rel_weights: RelWeights = field(default_factory=RelWeights)
    walk: WalkConfig = field(default_factory=WalkConfig)
    proximity_scale: float = 1e-3
    graph_candidates: int = 200
    walks_kept: int = WALK_ENTRIES_KEPT
    fact_via_artist: float = 0.5
    fact_unknown: float = 0.5
    max_query_chars: int = MAX_QUERY_CHARS
    text_batch_size: int = 64
    ef_search: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.fusion not in FUSION_METHODS:
            raise ValueError(f"unknown fusion {self.fusion!r}; choose from {list(FUSION_METHODS)}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"unknown normalise {self.normalise!r}; choose from {list(NORMALISATIONS)}")
        for name in ("rrf_k", "overfetch", "min_candidates", "exact_filter_max", "graph_candidates",
                     "max_query_chars", "text_batch_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if int(self.walks_kept) < 0:
            raise ValueError(f"walks_kept must be >= 0, got {self.walks_kept}")
        if not self.proximity_scale > 0:
            raise ValueError(f"proximity_scale must be positive, got {self.proximity_scale}")
        for name in ("fact_via_artist", "fact_unknown"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.threads is not None and self.threads <= 0:
            raise ValueError(f"threads must be positive, got {self.threads}")
        if self.ef_search is not None and self.ef_search <= 0:
            raise ValueError(f"ef_search must be positive, got {self.ef_search}")


def load_engine_config(source: str | os.PathLike | Mapping[str, Any], *, base: EngineConfig | None = None
                       ) -> EngineConfig:
    """An :class:`EngineConfig` from ``source``: a JSON file, a JSON object given inline
    (text starting with ``{``) or a mapping, laid out as the dataclasses nest, e.g.
    ``{"weights": {"graph": 1.5}, "walk": {"steps": 3}, "rel_weights": {"version_of": 6},
    "fusion": "rrf"}``. Settings not named keep ``base``'s values (default: the defaults).
    The one way ``kgjemb search``, ``serve`` and ``eval`` (``--engine-config``) and the
    Python API read engine settings.

    Raises :class:`~kgjemb.errors.ConfigError` naming the file and the setting: an unknown
    name, a value of the wrong type (``"1.5"`` for a number, ``1`` for true/false; no
    conversions), a non-finite number, or a value the setting refuses (``weights.graph``
    below 0).

    >>> load_engine_config('{"weights": {"graph": 2}}').weights.graph
    2.0
    """
    where, data = _read_config(source)
    return _merge(base if base is not None else EngineConfig(), data, where, "")


def changed_settings(config: EngineConfig) -> dict[str, Any]:
    """The settings of ``config`` that differ from the defaults, by dotted name
    (``{"weights.graph": 1.5}``): what a report or a log line should say was tuned."""
    return _diff(config, EngineConfig(), "")


def _read_config(source: str | os.PathLike | Mapping[str, Any]) -> tuple[str, dict]:
    if isinstance(source, Mapping):
        return "engine config", dict(source)
    text, where = str(source), "engine config (inline JSON)"
    if not text.lstrip().startswith(("{", "[")):
        where = f"engine config {text}"
        path = Path(text).expanduser()
        try:
            if not path.is_file():
                raise ConfigError(f"{where}: no such file (give a JSON file or an inline JSON object)")
            if path.stat().st_size > MAX_CONFIG_BYTES:
                raise ConfigError(f"{where}: larger than {MAX_CONFIG_BYTES} bytes; not a settings file")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{where}: unreadable: {err}") from None

    def _no_constant(name: str):
        raise ValueError(f"{name} is not a number a setting can take")

    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise ConfigError(f"{where}: not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a JSON object of settings, got {type(data).__name__}")
    return where, data


def _merge(obj, data: Mapping[str, Any], where: str, prefix: str):
    """``obj`` (a settings dataclass) with ``data``'s values, each checked against its
    field's type; nested dataclasses take nested objects."""
    from pydantic import TypeAdapter, ValidationError

    names = {f.name: f for f in dataclasses.fields(obj)}
    hints = typing.get_type_hints(type(obj))
    changes = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"{where}: {name}: unknown setting; known: {', '.join(names)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {name}: must be an object of settings "
                                  f"({', '.join(f.name for f in dataclasses.fields(current))})")
            changes[key] = _merge(current, value, where, f"{name}.")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: {name}: must be a finite number, got {value}")
        try:
            changes[key] = TypeAdapter(hints[key]).validate_python(value, strict=True)
        except ValidationError as err:
            raise ConfigError(f"{where}: {name}: {err.errors()[0]['msg']}, got {value!r}") from None
    try:
        return dataclasses.replace(obj, **changes)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'settings'}: {err}") from None


def _diff(obj, default, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        mine, theirs = getattr(obj, f.name), getattr(default, f.name)
        if dataclasses.is_dataclass(mine) and type(mine) is type(theirs):
            out.update(_diff(mine, theirs, f"{prefix}{f.name}."))
        elif mine != theirs:
            out[f"{prefix}{f.name}"] = mine
    return out
