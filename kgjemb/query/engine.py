"""The query engine: parse → route → retrieve candidates → fuse → explain.

Routing: a linked artist/album/track ("songs like X") searches the track index with the
entity's vector (a track also with its own audio vector); attribute phrases go through the
text tower; negated phrases become subtractive signals; filters become graph constraints
on the candidate union (:mod:`kgjemb.query.filters`). Candidates are the union of each
signal's ANN neighbours; every candidate is then scored exactly on every signal and fused
(:mod:`kgjemb.query.fusion`). Hits carry per-signal contributions, the graph path to the
query entity and the matched attributes (:mod:`kgjemb.query.explain`).

>>> from kgjemb import Engine
>>> engine = Engine.open(".kgjemb/bundle")  # doctest: +SKIP
>>> engine.search("pieces like Jesu, meine Freude but on strings, not slow", k=5).to_frame()  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from kgjemb.catalog.schema import NODE_LABELS
from kgjemb.errors import BundleError, QueryError, UnknownEntityError
from kgjemb.index.bundle import Bundle
from kgjemb.index.faiss_index import IndexConfig
from kgjemb.query.config import EngineConfig, SignalWeights
from kgjemb.query.explain import AttributeMatcher, GraphPaths, node_key
from kgjemb.query.filters import TrackTable
from kgjemb.query.fusion import Signal, fuse
from kgjemb.query.hits import make_hits
from kgjemb.query.types import EntityRef, Filter, ParsedQuery, SearchResult

__all__ = ["Engine", "EngineConfig", "SignalWeights"]

logger = logging.getLogger(__name__)

ANCHOR_LABELS = ("Artist", "Album", "Track")


@dataclass
class _Plan:
    """One query, routed: its signals, filters, anchors and warnings (private to a call)."""

    parsed: ParsedQuery
    signals: list[Signal] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)  # "Label:id" of like-entities
    warnings: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # phrases then negations, to encode


class Engine:
    """Search a bundle. Open once, then call :meth:`search` from any number of threads:
    a search reads only immutable state built at open (parser, arrays, index, graph maps).

    ``Engine.open(bundle, store=None, config=EngineConfig())``: ``bundle`` is a bundle
    directory (or an open :class:`~kgjemb.index.bundle.Bundle`); ``store`` an optional live
    :class:`~kgjemb.graph.base.GraphStore` kept for callers (the bundle's snapshot answers
    every filter, path and explanation, so results do not depend on the store).
    """

    def __init__(self, bundle: Bundle, *, model, parser, store=None, config: EngineConfig = EngineConfig()) -> None:
        self.bundle = bundle
        self.model = model
        self.parser = parser
        self.store = store
        self.config = config
        self.index = bundle.index
        self.track_ids: list[str] = list(bundle.track_ids)
        self.vectors = bundle.track_vectors  # (n_tracks, dim), L2-normalised
        self.table = TrackTable(bundle.export, self.track_ids)
        self.paths = GraphPaths(bundle.export)
        self.attributes = AttributeMatcher(bundle.export)
        self.entity_row = {lb: bundle.export.node_index(lb) for lb in NODE_LABELS}
        self.entity_vectors = bundle.entities
        self._id_rank = np.argsort(np.argsort(np.asarray(self.track_ids, dtype=object)))  # (n,) rank by id

    @classmethod
    def open(cls, bundle: str | os.PathLike | Bundle, store=None, config: EngineConfig = EngineConfig(), *,
             parser=None, model=None) -> "Engine":
        """Open (and verify) a bundle, load its model and build the query parser.

        Raises :class:`~kgjemb.errors.BundleError` naming the file when the bundle is
        missing, incomplete or corrupt. ``parser`` / ``model`` reuse already-built ones
        (the model must be the bundle's: same checksum).

        >>> engine = Engine.open(".kgjemb/bundle", config=EngineConfig(fusion="rrf"))  # doctest: +SKIP
        """
        if not isinstance(bundle, Bundle):
            index_config = None
            if config.ef_search is not None:
                index_config = IndexConfig(ef_search=config.ef_search)
            bundle = Bundle.open(Path(bundle), index_config=index_config)
        if config.threads is not None:
            set_threads(config.threads)
        if model is None:
            model = bundle.load_model()
        elif model.checksum() != bundle.manifest.get("model_checksum"):
            raise BundleError(f"{bundle.path}: the given model is not the bundle's (checksum differs)")
        if parser is None:
            from kgjemb.query.parse import ParserConfig, QueryParser

            parser = QueryParser.from_export(bundle.export, config=ParserConfig(max_chars=config.max_query_chars))
        return cls(bundle, model=model, parser=parser, store=store, config=config)

    # -- public API -----------------------------------------------------------------------

    def parse(self, query: str) -> ParsedQuery:
        """The parser's reading of ``query`` (entities, phrases, negations, filters)."""
        return self.parser.parse(self._check(query))

    def search(self, query: str, k: int = 10, filters: Sequence[Filter] | None = None) -> SearchResult:
        """Top ``k`` tracks for a free-text query; ``filters`` are added to the parsed ones.

        Raises :class:`~kgjemb.errors.QueryError` for an empty, whitespace-only or over-long
        query. Unknown names do not fail the search: the rest of the query is answered and
        a warning lists the closest names.
        """
        return self.search_batch([query], k=k, filters=filters)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10, filters: Sequence[Filter] | None = None) -> list[SearchResult]:
        """Many queries at once: one parser pass, one text-encoder batch, one FAISS search
        per round for all queries. Same results as calling :meth:`search` on each."""
        k = self._check_k(k)
        checked = [self._check(q) for q in queries]
        if not checked:
            return []
        parsed = self.parser.parse_batch(checked)
        plans = [self._route(p, list(filters or ())) for p in parsed]
        self._encode_texts(plans)
        return self._run(plans, k)

    def similar(self, node: str | tuple[str, str], k: int = 10, *, label: str | None = None) -> SearchResult:
        """Tracks nearest to a graph node: ``"t_jesu"``, ``"Track:t_jesu"`` or ``("Artist",
        "bach")``. Unknown nodes raise :class:`UnknownEntityError` with the closest ids."""
        k = self._check_k(k)
        label, node_id = self._resolve_node(node, label)
        key = node_key(label, node_id)
        ref = EntityRef(text=key, label=label, id=node_id, name=self.paths.names.get(key), score=100.0, how="exact")
        plan = _Plan(parsed=ParsedQuery(query=f"similar to {key}", intents=["similarity"], entities=[ref]))
        self._add_entity_signals(plan, [(label, node_id)])
        return self._run([plan], k)[0]

    # -- routing --------------------------------------------------------------------------

    def _check(self, query) -> str:
        if not isinstance(query, str):
            raise QueryError(f"query must be a string, got {type(query).__name__}")
        if not query.strip():
            raise QueryError("query is empty")
        if len(query) > self.config.max_query_chars:
            raise QueryError(f"query is {len(query)} characters long; the limit is {self.config.max_query_chars}")
        return query

    @staticmethod
    def _check_k(k) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise QueryError(f"k must be a positive integer, got {k!r}")
        return int(k)

    def _resolve_node(self, node, label: str | None) -> tuple[str, str]:
        if isinstance(node, tuple):
            label, node_id = node
        elif label is None and isinstance(node, str) and ":" in node and node.split(":", 1)[0] in NODE_LABELS:
            label, node_id = node.split(":", 1)
        else:
            node_id = str(node)
        labels = [label] if label else ["Track", "Artist", "Album", "Attribute"]
        for lb in labels:
            if lb not in NODE_LABELS:
                raise UnknownEntityError(f"{lb}:{node_id}", [f"label must be one of {list(NODE_LABELS)}"])
            if node_id in self.entity_row[lb]:
                return lb, node_id
        from rapidfuzz import process

        # closest by id or by name; the "Label:" prefix is left out of the comparison
        keys = [node_key(lb, i) for lb in labels for i in self.entity_row[lb]]
        by_id = {k: k.split(":", 1)[1] for k in keys}
        by_name = {k: str(self.paths.names.get(k, "")) for k in keys}
        scored: dict[str, float] = {}
        for choices in (by_id, by_name):
            for _, score, key in process.extract(node_id, choices, limit=5):
                scored[key] = max(score, scored.get(key, 0.0))
        close = sorted(scored, key=lambda k: (-scored[k], k))[:5]
        raise UnknownEntityError(f"{label + ':' if label else ''}{node_id}", close)

    def _add_entity_signals(self, plan: _Plan, nodes: list[tuple[str, str]]) -> None:
        w: SignalWeights = self.config.weights
        n = len(nodes)
        for label, node_id in nodes:
            key = node_key(label, node_id)
            plan.anchors.append(key)
            vec = self.entity_vectors[label][self.entity_row[label][node_id]]
            if np.linalg.norm(vec) > 0 and w.entity > 0:
                plan.signals.append(Signal(f"like:{key}", "entity", _unit(vec), w.entity / n, ref=key))
            row = self.table.row.get(node_id) if label == "Track" else None
            if row is not None and w.audio > 0:
                plan.signals.append(Signal(f"audio:{key}", "audio", self.vectors[row], w.audio / n, ref=key))

    def _route(self, parsed: ParsedQuery, extra_filters: list[Filter]) -> _Plan:
        plan = _Plan(parsed=parsed, filters=list(parsed.filters) + extra_filters)
        anchors = []
        for ent in parsed.entities:
            if ent.id is None:
                hint = f"; closest: {', '.join(ent.candidates[:5])}" if ent.candidates else ""
                plan.warnings.append(f"no match for {ent.text!r}{hint}")
            elif ent.role == "like" and ent.label in ANCHOR_LABELS:
                if ent.id in self.entity_row[ent.label] and (ent.label, ent.id) not in anchors:
                    anchors.append((ent.label, ent.id))
                if ent.candidates:
                    plan.warnings.append(f"{ent.text!r} read as {ent.label}:{ent.id} ({ent.name}); "
                                         f"could also be: {', '.join(ent.candidates[:3])}")
        self._add_entity_signals(plan, anchors)
        plan.texts = list(dict.fromkeys(parsed.phrases)) + list(dict.fromkeys(parsed.negations))
        if not plan.signals and not plan.texts and not plan.filters:
            plan.warnings.append("nothing in the query could be used for searching")
        return plan

    def _encode_texts(self, plans: list[_Plan]) -> None:
        texts = list(dict.fromkeys(t for p in plans for t in p.texts))
        if not texts:
            return
        vecs = np.asarray(self.model.embed_text(texts, batch_size=self.config.text_batch_size), dtype=np.float32)
        by_text = dict(zip(texts, vecs))  # text -> (dim,)
        w = self.config.weights
        for plan in plans:
            phrases = list(dict.fromkeys(plan.parsed.phrases))
            negations = list(dict.fromkeys(plan.parsed.negations))
            if w.text > 0:
                plan.signals += [Signal(f"text:{t}", "text", _unit(by_text[t]), w.text / len(phrases)) for t in phrases]
            if w.negation > 0:
                plan.signals += [Signal(f"not:{t}", "negation", _unit(by_text[t]), w.negation / len(negations))
                                 for t in negations]

    # -- retrieval, fusion, hits ----------------------------------------------------------

    def _allowed(self, plan: _Plan) -> np.ndarray | None:
        mask, warnings = self.table.mask(plan.filters)
        plan.warnings += warnings
        if self.config.exclude_anchors:
            rows = [self.table.row[a.split(":", 1)[1]] for a in plan.anchors
                    if a.startswith("Track:") and a.split(":", 1)[1] in self.table.row]
            if rows:
                mask = np.ones(len(self.track_ids), dtype=bool) if mask is None else mask.copy()
                mask[rows] = False
        return mask

    def _run(self, plans: list[_Plan], k: int) -> list[SearchResult]:
        n = len(self.track_ids)
        masks = [self._allowed(p) for p in plans]
        cands: list[np.ndarray | None] = [None] * len(plans)
        fetch = min(n, max(k * self.config.overfetch, self.config.min_candidates))
        pending = []
        for i, (plan, mask) in enumerate(zip(plans, masks)):
            positive = [s for s in plan.signals if not s.negative]
            n_allowed = n if mask is None else int(mask.sum())
            if not plan.signals and mask is None:
                cands[i] = np.zeros(0, dtype=np.int64)  # nothing usable: no hits, and a warning
            elif not positive or (mask is not None and n_allowed <= self.config.exact_filter_max):
                cands[i] = np.flatnonzero(mask) if mask is not None else np.arange(n)
            else:
                pending.append(i)
        while pending:
            # one FAISS call for every positive signal of every pending query
            owners, queries = [], []
            for i in pending:
                for s in plans[i].signals:
                    if not s.negative:
                        owners.append(i)
                        queries.append(s.vector)
            _, found = self.index.search(np.stack(queries), fetch)
            union: dict[int, set[str]] = {i: set() for i in pending}
            for i, ids in zip(owners, found):
                union[i].update(ids)
            still = []
            for i in pending:
                rows = np.fromiter((self.table.row[t] for t in union[i]), dtype=np.int64, count=len(union[i]))
                rows.sort()
                if masks[i] is not None:
                    rows = rows[masks[i][rows]]
                if len(rows) >= k or fetch >= n:
                    cands[i] = rows
                else:
                    still.append(i)
            pending, fetch = still, min(n, fetch * 4)
        return [self._finish(plan, rows, k) for plan, rows in zip(plans, cands)]

    def _finish(self, plan: _Plan, rows: np.ndarray, k: int) -> SearchResult:
        c = self.config
        scores, parts = fuse(self.vectors[rows], plan.signals, method=c.fusion, norm=c.normalise, rrf_k=c.rrf_k)
        # best first; ties by track id so that results are deterministic
        if len(rows) > 4 * k:  # keep the top 4k by score, then order exactly
            keep = np.argpartition(-scores, 4 * k)[: 4 * k]
        else:
            keep = np.arange(len(rows))
        order = keep[np.lexsort((self._id_rank[rows[keep]], -scores[keep]))][:k]
        if not plan.signals and len(rows):
            plan.warnings.append("no similarity signal in the query: filtered tracks in id order")
        hits = make_hits(self, plan, rows[order], scores[order], parts[order])
        return SearchResult(query=plan.parsed.query, parse=plan.parsed, hits=hits, warnings=plan.warnings)


def set_threads(n: int) -> None:
    """Set torch's intra-op and FAISS's OpenMP thread counts (process-wide)."""
    import torch

    from kgjemb.index.faiss_index import import_faiss

    torch.set_num_threads(n)
    import_faiss().omp_set_num_threads(n)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
