"""The query engine: parse → route → retrieve candidates → fuse → explain.

Routing (:meth:`Engine._route`): a linked artist/album/track ("songs like X") is an
*anchor*: it searches the track index with its entity vector (a track also with its own
audio vector) and seeds a personalised walk over the typed graph (graph proximity, see
:mod:`kgjemb.graph.proximity`). A relation query ("influenced by X", "other versions of X",
…) makes the graph's related nodes the anchors. Attribute phrases go through the text
tower; an attribute the graph knows by that name also scores the tracks that HAVE it
(attribute facts), softly: a track without the fact still ranks through the text tower.
Negated phrases and attributes subtract. Filters ("not by X", "from the 1880s", "only in
6/8", ``filters=``) are hard graph constraints: with the anchor tracks to leave out they
become one :class:`~kgjemb.index.base.IndexFilter` that the index evaluates
(:mod:`kgjemb.query.filters`), in-process for FAISS or on the server for Milvus.

Candidates are the union of each vector signal's nearest tracks among those passing the
filter, the walk's heaviest tracks and the tracks having a named attribute (those two kept
when they pass, :meth:`~kgjemb.index.base.VectorIndex.select`); when at most
``exact_filter_max`` tracks pass, all of them. The candidates' stored vectors come from
the index (:meth:`~kgjemb.index.base.VectorIndex.fetch`): the engine holds no track
vectors. Every candidate is then scored exactly on every signal and fused
(:mod:`kgjemb.query.fusion`). Hits carry per-signal contributions,
the graph path that carried most of the proximity score and the attributes they HAVE
(:mod:`kgjemb.query.hits`).

>>> from kgjemb import Engine
>>> engine = Engine.open(".kgjemb/bundle")  # doctest: +SKIP
>>> engine.search("pieces like Jesu, meine Freude but on strings, not slow", k=5).to_frame()  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from kgjemb.catalog.schema import NODE_LABELS
from kgjemb.errors import BundleError, QueryError, UnknownEntityError
from kgjemb.graph import csr
from kgjemb.graph.base import GraphExport
from kgjemb.graph.names import fuzzy_extract, match_key
from kgjemb.graph.proximity import WalkResult
from kgjemb.index.builder import bundle_staleness
from kgjemb.index.bundle import Bundle
from kgjemb.index.base import IndexFilter
from kgjemb.collector import collector_paused, settle as settle_collector
from kgjemb.query.config import EngineConfig, SignalWeights
from kgjemb.query.fusion import Signal, fuse, raw_scores
from kgjemb.query.graph_signals import fact_signals, proximity_raw, proximity_signal
from kgjemb.query.hits import make_artist_hits, make_hits
from kgjemb.query.parse import ParserConfig, QueryParser
from kgjemb.query.snapshot import GraphSnapshot, node_key
from kgjemb.query.threads import set_threads, threads_here
from kgjemb.query.types import ArtistResult, EntityRef, Filter, ParsedQuery, SearchResult

__all__ = ["Engine", "EngineConfig", "SignalWeights"]

logger = logging.getLogger(__name__)

ANCHOR_LABELS = ("Artist", "Album", "Track")
#: :meth:`Engine.open` settles the garbage collector for engines of this many tracks or more
SETTLE_FROM = 100_000
#: what a relation query's related nodes are called in warnings
_RELATION_WORDS = {
    "influenced_by": "artists influenced by", "influenced": "artists who influenced",
    "similar_artists": "artists similar to", "versions": "other versions of",
    "same_album": "the album of", "members": "members of",
}


@dataclass
class _Plan:
    """One query, routed: its signals, filters, anchors and warnings (private to a call)."""

    parsed: ParsedQuery
    signals: list[Signal] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)  # "Label:id" seeds of the graph walk
    excluded: list[str] = field(default_factory=list)  # tracks left out (anchors, relation subjects)
    warnings: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # phrases then negations, to encode
    walk: WalkResult | None = None
    extra_rows: list[np.ndarray] = field(default_factory=list)  # graph-found candidates
    facts: list[str] = field(default_factory=list)  # attribute ids the query asks for


class Engine:
    """Search a bundle. Open once, then call :meth:`search` from any number of threads:
    a search reads only immutable state built at open (parser, index, snapshot).

    ``Engine.open(bundle, store=None, config=EngineConfig(), *, export=None)``: ``bundle``
    is a bundle directory (or an open :class:`~kgjemb.index.bundle.Bundle`); ``store`` an
    optional live :class:`~kgjemb.graph.base.GraphStore`: when its graph has moved on from
    the one the bundle follows, :attr:`stale` says so (logged, and added to every result's
    warnings) until ``kgjemb index sync``; ``export`` the
    graph the query path sees instead of the bundle's snapshot (e.g. with a share of the
    metadata hidden, for honest evaluation).
    """

    def __init__(self, bundle: Bundle, *, model, parser: QueryParser, snapshot: GraphSnapshot, store=None,
                 config: EngineConfig = EngineConfig()) -> None:
        self.bundle = bundle
        self.model = model
        self.parser = parser
        self.snapshot = snapshot
        self.store = store
        self.config = config
        self.index = bundle.index
        self.track_ids: list[str] = list(bundle.track_ids)
        self.rows = self.index.rows(self.track_ids)  # the index in track rows: no id strings per query
        self.table = snapshot.tracks
        self.entity_vectors = bundle.entities
        # rows of the bundle's entity vectors: the snapshot's own map when it shows the bundle's graph
        # (one id map per label, not two: ~60 MB at 10^6 tracks)
        self.entity_row = snapshot.entity_row if snapshot.export is bundle.export else \
            {lb: bundle.export.node_index(lb) for lb in NODE_LABELS}
        # the index's scalar fields follow the bundle's graph; another graph (hidden metadata)
        # resolves attribute filters itself
        self._own_attributes = snapshot.export is not bundle.export
        #: a warning when the live ``store`` holds a newer graph than the bundle follows
        self.stale: str | None = bundle_staleness(bundle, store) if store is not None else None
        if self.stale:
            logger.warning("%s", self.stale)

    @classmethod
    def open(cls, bundle: str | os.PathLike | Bundle, store=None, config: EngineConfig = EngineConfig(), *,
             parser: QueryParser | None = None, model=None, export: GraphExport | None = None,
             settle: bool | None = None) -> "Engine":
        """Open (and verify) a bundle, load its model, build the graph snapshot and parser.

        Raises :class:`~kgjemb.errors.BundleError` naming the file when the bundle is
        missing, incomplete or corrupt. ``parser`` / ``model`` reuse already-built ones
        (the model must be the bundle's: same checksum). ``export`` replaces the bundle's
        graph snapshot for the query path (parser, filters, graph signals, explanations).

        The cyclic garbage collector is paused while the engine is built
        (:func:`~kgjemb.collector.collector_paused`: at 10^6 tracks its full
        collections cost ~6 s of a ~26 s graph snapshot). ``settle``: then collect once and
        freeze what is alive (:func:`~kgjemb.collector.settle`), so that the first queries
        do not wait out collections over the engine's objects (at 10^6 tracks, 4.3 million
        objects: stalls of 1.0–1.3 s, against one 1.3 s pause here); None (default) settles
        engines of :data:`SETTLE_FROM` tracks or more (at the demo's 1,968 it would add
        0.13 s to a one-shot search and save nothing measurable). The HTTP service passes
        False: it settles after each swap.

        >>> engine = Engine.open(".kgjemb/bundle", config=EngineConfig(fusion="rrf"))  # doctest: +SKIP
        """
        with collector_paused():
            engine = cls._open(bundle, store, config, parser=parser, model=model, export=export)
        if settle or (settle is None and len(engine.track_ids) >= SETTLE_FROM):
            settle_collector()
        return engine

    @classmethod
    def _open(cls, bundle: str | os.PathLike | Bundle, store, config: EngineConfig, *,
              parser: QueryParser | None, model, export: GraphExport | None) -> "Engine":
        if not isinstance(bundle, Bundle):
            bundle = Bundle.open(Path(bundle))
            if config.ef_search is not None:  # any backend; the saved settings otherwise kept
                bundle.index.tune(ef_search=config.ef_search)
        if config.threads is not None:
            set_threads(config.threads)
        if model is None:
            model = bundle.load_text_model()  # ONNX Runtime: the query path needs the text tower only
        elif model.checksum() != bundle.manifest.get("model_checksum"):
            raise BundleError(f"{bundle.path}: the given model is not the bundle's (checksum differs)")
        graph = export if export is not None else bundle.export
        snapshot = GraphSnapshot(graph, list(bundle.track_ids), rel_weights=config.rel_weights,
                                 via_artist=config.fact_via_artist, walks_kept=config.walks_kept)
        if parser is None:
            parser = QueryParser.from_export(graph, config=ParserConfig(max_chars=config.max_query_chars),
                                             cache_dir=bundle.cache_dir)
        return cls(bundle, model=model, parser=parser, snapshot=snapshot, store=store, config=config)

    # -- public API -----------------------------------------------------------------------

    def parse(self, query: str) -> ParsedQuery:
        """The parser's reading of ``query`` (entities, relations, phrases, negations, filters)."""
        return self.parser.parse(self._check(query))

    def search(self, query: str, k: int = 10, filters: Sequence[Filter] | None = None, *,
               explain: bool = True) -> SearchResult:
        """Top ``k`` tracks for a free-text query; ``filters`` are added to the parsed ones.
        ``explain=False`` leaves each hit's ``explanation`` empty and its ``path`` unset
        (same hits, scores, signals, matched entity and attributes), skipping the graph-path
        search, which is most of the cost of building hits.

        Raises :class:`~kgjemb.errors.QueryError` for an empty, whitespace-only or over-long
        query. Unknown names do not fail the search: the rest of the query is answered and
        a warning lists the closest names.
        """
        return self.search_batch([query], k=k, filters=filters, explain=explain)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10, filters: Sequence[Filter] | None = None, *,
                     explain: bool = True) -> list[SearchResult]:
        """Many queries at once: one parser pass, one text-encoder batch, one FAISS search
        per round for all queries. Same results as calling :meth:`search` on each."""
        k = self._check_k(k)
        return self._run(self._plans(queries, filters), k, explain=explain)

    def rank_batch(self, queries: Sequence[str], k: int = 10, filters: Sequence[Filter] | None = None) -> list[list[str]]:
        """The ranked track ids of :meth:`search_batch` (same order), without building hits,
        explanations or graph paths: what evaluation needs when it ranks the whole catalog
        (explaining 2,000 hits a query cost more than finding them)."""
        k = self._check_k(k)
        return self._run(self._plans(queries, filters), k, hits=False)

    def _plans(self, queries: Sequence[str], filters: Sequence[Filter] | None) -> list[_Plan]:
        """Checked, parsed (one parser pass), routed plans with their texts encoded (one batch).
        A bad query in a batch of several is named by its position: ``queries[3]: query is empty``."""
        if isinstance(queries, str):
            raise QueryError("queries must be a list of strings, got one string (use search for one query)")
        queries = list(queries)
        checked = []
        for i, query in enumerate(queries):
            try:
                checked.append(self._check(query))
            except QueryError as err:
                if len(queries) == 1:
                    raise
                raise QueryError(f"queries[{i}]: {err}") from None
        if not checked:
            return []
        plans = [self._route(p, list(filters or ())) for p in self.parser.parse_batch(checked)]
        self._encode_texts(plans)
        return plans

    def similar(self, node: str | tuple[str, str], k: int = 10, *, label: str | None = None) -> SearchResult:
        """Tracks nearest to a graph node: ``"t_jesu"``, ``"Track:t_jesu"`` or ``("Artist",
        "bach")``. Unknown nodes raise :class:`UnknownEntityError` with the closest ids."""
        k = self._check_k(k)
        label, node_id = self._resolve_node(node, label)
        key = node_key(label, node_id)
        ref = EntityRef(text=key, label=label, id=node_id, name=self.snapshot.names.get(key), score=100.0, how="exact")
        plan = _Plan(parsed=ParsedQuery(query=f"similar to {key}", intents=["similarity"], entities=[ref]))
        if label == "Attribute":
            self._add_fact_signals(plan, [(node_id, 1.0, False)])
        else:
            self._add_anchor_signals(plan, [key])
        return self._run([plan], k)[0]

    def similar_artists(self, node: str | tuple[str, str], k: int = 10) -> ArtistResult:
        """Artists like an artist (or the artists of an album or track), ranked by graph
        proximity (the same typed walk as :meth:`search`) fused with entity-vector
        similarity, each explained by its signals and the graph path that carried most of
        its proximity. The node itself is left out.

        >>> engine.similar_artists("Artist:bach", k=5).to_frame()  # doctest: +SKIP
        """
        k = self._check_k(k)
        label, node_id = self._resolve_node(node, "Artist" if isinstance(node, str) and ":" not in node else None)
        if label not in ANCHOR_LABELS:
            raise UnknownEntityError(f"{label}:{node_id}", ["similar_artists takes an artist, album or track"])
        key = node_key(label, node_id)
        c, w = self.config, self.config.weights
        g = self.snapshot.graph
        a_lo, a_hi = g.offsets["Artist"]
        n_art = a_hi - a_lo
        walk = g.walk({key: 1.0}, c.walk)
        prox = walk.score(np.arange(a_lo, a_hi))  # (n_artists,)
        signals = []
        if w.graph > 0:
            prox_raw = proximity_raw(prox, c.proximity_scale)  # (n_artists,)
            signals.append(Signal(f"graph:{key}", "graph", w.graph, score=lambda r: prox_raw[r], ref=key))
        vec = self.entity_vectors[label][self.entity_row[label][node_id]]
        arts = np.asarray(self.entity_vectors["Artist"], dtype=np.float32)  # (n_artists, dim)
        if w.entity > 0 and np.linalg.norm(vec) > 0 and len(arts):
            norms = np.linalg.norm(arts, axis=1)
            cos = arts @ _unit(vec) / np.where(norms > 0, norms, 1.0)  # (n_artists,)
            signals.append(Signal(f"like:{key}", "entity", w.entity, score=lambda r: cos[r], ref=key))
        keep = np.ones(n_art, dtype=bool)
        if label == "Artist":
            keep[self.entity_row["Artist"][node_id]] = False
        rows = np.flatnonzero(keep)
        raw = raw_scores(arts[rows], rows, signals)  # (n_rows, n_signals)
        scores, parts = fuse(raw, signals, method=c.fusion, norm=c.normalise, rrf_k=c.rrf_k)
        ids = np.asarray(self.snapshot.export.nodes["Artist"]["id"].tolist(), dtype=object)
        order = np.lexsort((ids[rows], -scores))[:k]
        hits = make_artist_hits(rows[order], scores[order], parts[order], signals, snapshot=self.snapshot,
                                walk=walk, artist_ids=ids)
        return ArtistResult(query=f"artists like {key}", hits=hits)

    # -- checks ---------------------------------------------------------------------------

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
        # closest by id or by name; the "Label:" prefix is left out of the comparison
        keys = [node_key(lb, i) for lb in labels for i in self.entity_row[lb]]
        scored: dict[str, float] = {}
        for form in (lambda k: k.split(":", 1)[1], lambda k: str(self.snapshot.names.get(k, ""))):
            choices = [match_key(form(k)) for k in keys]
            for _, score, pos in fuzzy_extract(match_key(node_id), choices, cutoff=0, limit=5):
                scored[keys[pos]] = max(score, scored.get(keys[pos], 0.0))
        close = sorted(scored, key=lambda k: (-scored[k], k))[:5]
        raise UnknownEntityError(f"{label + ':' if label else ''}{node_id}", close)

    # -- routing --------------------------------------------------------------------------

    def _route(self, parsed: ParsedQuery, extra_filters: list[Filter]) -> _Plan:
        plan = _Plan(parsed=parsed, filters=list(parsed.filters) + extra_filters)
        anchors: list[str] = []
        related: set[str] = set()  # anchors that answer a relation query
        facts: list[tuple[str, float, bool]] = []
        for ent in parsed.entities:
            if ent.id is None:
                hint = f"; closest: {', '.join(ent.candidates[:5])}" if ent.candidates else ""
                plan.warnings.append(f"no match for {ent.text!r}{hint}")
                continue
            if ent.how == "fuzzy":  # a misspelling corrected: say so, the user may have meant something else
                others = f"; could also be: {', '.join(ent.candidates[:3])}" if ent.candidates else ""
                plan.warnings.append(f"{ent.text!r} read as {ent.name} ({ent.label}:{ent.id}), the closest name "
                                     f"(similarity {ent.score:.0f}/100){others}")
            if ent.label == "Attribute" and ent.role in ("like", "exclude"):
                facts.append((ent.id, ent.score / 100.0, ent.role == "exclude"))
                continue
            if ent.role != "like" or ent.label not in ANCHOR_LABELS or not self.snapshot.has(ent.label, ent.id):
                continue
            key = node_key(ent.label, ent.id)
            if ent.relation:
                targets = self.snapshot.related(ent.relation, key)
                if not targets:  # another node of the same words may have what was asked for
                    for cand in ent.candidates:
                        other = cand.split(" ", 1)[0]
                        found = self.snapshot.related(ent.relation, other) if ":" in other else []
                        if found:
                            plan.warnings.append(f"{ent.text!r} read as {cand}, the one with {_RELATION_WORDS[ent.relation]} "
                                                 f"it in the graph (not {ent.label}:{ent.id})")
                            key, targets = other, found
                            ent = ent.model_copy(update={"name": self.snapshot.names.get(other, other)})
                            break
                what = f"{_RELATION_WORDS[ent.relation]} {ent.name}"
                if targets:
                    shown = ", ".join(self.snapshot.names.get(t, t) for t in targets[:5])
                    plan.warnings.append(f"{what}: {shown}{' …' if len(targets) > 5 else ''} (from the graph)")
                    anchors += [t for t in targets if t not in anchors]
                    related.update(targets)
                    if key.startswith("Track:"):
                        plan.excluded.append(key)
                    continue
                plan.warnings.append(f"the graph knows no {what}; searching like {ent.name} instead")
            if key not in anchors:
                anchors.append(key)
            if ent.candidates and ent.how != "fuzzy":  # a fuzzy link named its alternatives above
                plan.warnings.append(f"{ent.text!r} read as {ent.label}:{ent.id} ({ent.name}); "
                                     f"could also be: {', '.join(ent.candidates[:3])}")
        self._add_anchor_signals(plan, anchors)
        # a relation's answers ("other versions of X") are results, not anchors to leave out
        plan.excluded = [k for k in plan.excluded if k not in related]
        self._add_fact_signals(plan, facts)
        plan.texts = list(dict.fromkeys(parsed.phrases)) + list(dict.fromkeys(parsed.negations))
        if not plan.signals and not plan.texts and not plan.filters:
            plan.warnings.append("nothing in the query could be used for searching")
        return plan

    def _add_anchor_signals(self, plan: _Plan, anchors: list[str]) -> None:
        """Entity and audio vectors of each anchor, and one graph-proximity signal seeded
        from all of them (plus their shared attributes)."""
        w: SignalWeights = self.config.weights
        n = len(anchors)
        for key in anchors:
            label, node_id = key.split(":", 1)
            plan.anchors.append(key)
            if label == "Track":
                plan.excluded.append(key)
            row = self.entity_row[label].get(node_id)
            vec = self.entity_vectors[label][row] if row is not None else None
            if vec is not None and np.linalg.norm(vec) > 0 and w.entity > 0:
                plan.signals.append(Signal(f"like:{key}", "entity", w.entity / n, vector=_unit(vec), ref=key))
            if label == "Track" and node_id in self.table.row and w.audio > 0:
                audio = self.index.fetch([node_id])[0]  # (dim,) the track's stored vector
                plan.signals.append(Signal(f"audio:{key}", "audio", w.audio / n, vector=audio, ref=key))
        if anchors and w.graph > 0:
            self._add_graph_signal(plan, anchors)

    def _add_graph_signal(self, plan: _Plan, anchors: list[str]) -> None:
        signal, plan.walk, rows = proximity_signal(self.snapshot, anchors, self.config)
        plan.signals.append(signal)
        plan.extra_rows.append(rows)

    def _add_fact_signals(self, plan: _Plan, facts: list[tuple[str, float, bool]]) -> None:
        signals, asked, rows = fact_signals(self.snapshot, facts, self.config)
        plan.signals += signals
        plan.facts += asked
        plan.extra_rows += rows

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
                plan.signals += [Signal(f"text:{t}", "text", w.text / len(phrases), vector=_unit(by_text[t]))
                                 for t in phrases]
            if w.negation > 0:
                plan.signals += [Signal(f"not:{t}", "negation", w.negation / len(negations),
                                        vector=_unit(by_text[t]), negative=True) for t in negations]

    # -- retrieval, fusion, hits ----------------------------------------------------------

    def allowed(self, filters: Sequence[Filter]) -> tuple[np.ndarray | None, list[str]]:
        """Which indexed tracks ``filters`` allow: a boolean mask over :attr:`track_ids`
        (None when nothing is filtered) and warnings for filters that were ignored. The
        index evaluates them, as in :meth:`search`."""
        f, warnings = self.table.index_filter(list(filters), own_attributes=self._own_attributes)
        if f is None:
            return None, warnings
        mask = np.zeros(len(self.track_ids), dtype=bool)
        mask[self.rows.select(f)] = True
        return mask, warnings

    def _filter(self, plan: _Plan) -> IndexFilter | None:
        """The query's graph constraints and left-out anchors, for the index to evaluate."""
        f, warnings = self.table.index_filter(plan.filters, own_attributes=self._own_attributes)
        plan.warnings += warnings
        if self.config.exclude_anchors:
            deny = {a.split(":", 1)[1] for a in plan.excluded if a.startswith("Track:")} & self.table.row.keys()
            if deny:
                f = replace(f or IndexFilter(), deny_ids=(f.deny_ids if f else frozenset()) | deny)
        return f

    def _passing(self, rows: np.ndarray, f: IndexFilter | None) -> np.ndarray:
        """The rows among ``rows`` (graph-found candidates) that pass ``f``."""
        if f is None or not len(rows):
            return rows
        return self.rows.passing(rows, f)

    def _run(self, plans: list[_Plan], k: int, *, hits: bool = True, explain: bool = True) -> list:
        """Candidates per plan: every track passing its filter when at most
        ``exact_filter_max`` do; else each positive vector signal's ``fetch`` nearest
        tracks among those passing (one index search per distinct filter, for every query
        of the batch), plus the graph's candidates that pass. Then exact scores and fusion.
        ``hits=False``: each plan's ranked track ids instead of a :class:`SearchResult`;
        ``explain=False``: hits without explanations and paths."""
        if self.config.threads is not None:
            threads_here(self.config.threads)
        n = len(self.track_ids)
        fetch = min(n, max(k * self.config.overfetch, self.config.min_candidates))
        filters = [self._filter(p) for p in plans]
        cands: list[np.ndarray | None] = [None] * len(plans)
        extra = [csr.union(*p.extra_rows) if p.extra_rows else np.zeros(0, dtype=np.int64)
                 for p in plans]
        pending: dict[IndexFilter | None, list[int]] = {}
        for i, (plan, f) in enumerate(zip(plans, filters)):
            if not plan.signals and f is None:
                cands[i] = np.zeros(0, dtype=np.int64)  # nothing usable: no hits, and a warning
                continue
            few = self.rows.select(f, limit=self.config.exact_filter_max) if f is not None else None
            if few is not None:  # a strict filter: score every track that passes
                cands[i] = few
            elif any(not s.negative and s.vector is not None for s in plan.signals):
                pending.setdefault(f, []).append(i)
            else:  # graph signals only: their candidates, or every track that passes
                rows = self._passing(extra[i], f)
                cands[i] = rows if len(rows) >= k else (self.rows.select(f) if f is not None else np.arange(n))
        for f, members in pending.items():
            # one index search for every positive vector signal of the queries sharing a filter
            owners, queries = [], []
            for i in members:
                for s in plans[i].signals:
                    if not s.negative and s.vector is not None:
                        owners.append(i)
                        queries.append(s.vector)
            found = self.rows.search(np.stack(queries), fetch, filter=f)  # rows per query, best first
            union: dict[int, list[np.ndarray]] = {i: [] for i in members}
            for i, rows in zip(owners, found):
                union[i].append(rows)
            for i in members:
                cands[i] = csr.union(*union[i], self._passing(extra[i], f))
        return [self._finish(plan, rows, k, hits=hits, explain=explain) for plan, rows in zip(plans, cands)]

    def _finish(self, plan: _Plan, rows: np.ndarray, k: int, *, hits: bool = True,
                explain: bool = True) -> SearchResult | list[str]:
        c = self.config
        has_vectors = any(s.vector is not None for s in plan.signals)
        vectors = self.rows.fetch(rows) if has_vectors and len(rows) else None  # (n_cand, dim), stored vectors
        raw = raw_scores(vectors, rows, plan.signals)  # (n_cand, n_signals)
        scores, parts = fuse(raw, plan.signals, method=c.fusion, norm=c.normalise, rrf_k=c.rrf_k)
        # best first; ties by track id so that results are deterministic
        if len(rows) > 4 * k:  # keep the top 4k by score, then order exactly
            keep = np.argpartition(-scores, 4 * k)[: 4 * k]
        else:
            keep = np.arange(len(rows))
        ids = {j: self.track_ids[rows[j]] for j in keep.tolist()}
        order = np.array(sorted(ids, key=lambda j: (-scores[j], ids[j]))[:k], dtype=np.int64)
        if not hits:
            return [ids[j] for j in order.tolist()]
        if not plan.signals and len(rows):
            plan.warnings.append("no similarity signal in the query: filtered tracks in id order")
        hits = make_hits(rows[order], scores[order], parts[order], plan.signals, snapshot=self.snapshot,
                         walk=plan.walk, facts=plan.facts, explain=explain)
        if self.stale:
            plan.warnings.append(self.stale)
        return SearchResult(query=plan.parsed.query, parse=plan.parsed, hits=hits, warnings=plan.warnings)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
