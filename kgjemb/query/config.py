"""Settings of the query engine: fusion method, per-signal weights, candidate budgets."""
from __future__ import annotations

from dataclasses import dataclass, field

from kgjemb.graph.proximity import WALK_ENTRIES_KEPT, RelWeights, WalkConfig
from kgjemb.limits import MAX_QUERY_CHARS

__all__ = ["EngineConfig", "FUSION_METHODS", "NORMALISATIONS", "RelWeights", "SignalWeights", "WalkConfig"]

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
