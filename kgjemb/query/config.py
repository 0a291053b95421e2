"""Settings of the query engine: fusion method, per-signal weights, candidate budgets."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EngineConfig", "FUSION_METHODS", "NORMALISATIONS", "SignalWeights"]

FUSION_METHODS = ("weighted", "rrf")
NORMALISATIONS = ("minmax", "zscore", "none")


@dataclass(frozen=True)
class SignalWeights:
    """Weight of each kind of signal in the fused score. Several signals of one kind
    (two "like" anchors, three phrases) share their kind's weight equally.

    ``entity``: similarity to a linked artist/album/track's entity vector (1.0);
    ``audio``: similarity to a linked track's own audio vector (0.5); ``text``: similarity
    to an attribute phrase through the text tower (1.0); ``negation``: similarity to a
    negated phrase, *subtracted* (0.5).
    """

    entity: float = 1.0
    audio: float = 0.5
    text: float = 1.0
    negation: float = 0.5

    def __post_init__(self) -> None:
        for name in ("entity", "audio", "text", "negation"):
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
    ``overfetch``: each signal fetches ``k × overfetch`` neighbours (10, at least
    ``min_candidates`` = 100); when filters leave fewer than ``k`` candidates the fetch
    grows ×4 until the whole index was seen. ``exact_filter_max``: when filters allow at
    most this many tracks (5,000) all of them are scored exactly instead.
    ``exclude_anchors``: tracks named as "like X" anchors are left out of their own
    results (True). ``max_path_hops``: longest explanation path (4). ``threads``: when
    set, :meth:`Engine.open` sets torch's and FAISS's thread counts process-wide (None:
    leave them). One thread is the fastest for single queries on a busy machine: the
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
    max_path_hops: int = 4
    max_query_chars: int = 1000
    text_batch_size: int = 64
    ef_search: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.fusion not in FUSION_METHODS:
            raise ValueError(f"unknown fusion {self.fusion!r}; choose from {list(FUSION_METHODS)}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"unknown normalise {self.normalise!r}; choose from {list(NORMALISATIONS)}")
        for name in ("rrf_k", "overfetch", "min_candidates", "exact_filter_max", "max_path_hops",
                     "max_query_chars", "text_batch_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.threads is not None and self.threads <= 0:
            raise ValueError(f"threads must be positive, got {self.threads}")
        if self.ef_search is not None and self.ef_search <= 0:
            raise ValueError(f"ef_search must be positive, got {self.ef_search}")
