"""Turn a free-text music query into a :class:`ParsedQuery`: entities, phrases, negations, filters.

How a query is read (left to right, over spaCy tokens):

1. Time expressions ("from the 1720s", "18th-century", "from the baroque era") become
   ``year_range`` / ``era`` filters and are removed (:mod:`kgjemb.query.parse.lexicon`).
   Negated ones are complemented where one filter can say it ("not before 1800" →
   ``1800-``; "not from the baroque era" → ``not_attribute era:baroque``), else kept as a
   negated phrase ("not from the 1720s" → negation "1720s"), never a positive filter.
2. Graph names are found by the gazetteer's phrase table (exact, case/accent-insensitive;
   works also by their short titles: "Jesu, meine Freude" for "Jesu, meine Freude (BWV 358)").
3. Cue words set what the next words mean (:data:`~kgjemb.query.parse.lexicon.CUES`):
   "like X" / "similar to X" / "in the style of X" → similarity anchor (role ``like``);
   "X by Y" → the work X credited to artist Y (Y disambiguates, it is not a filter);
   "by Y" with no work before it → ``Filter(by)``; "not by Y" → ``Filter(not_by)``;
   "exclude/except/other than/anything but Y" and "not/no Y" with Y an artist or work →
   ``Filter(exclude)``; "no/not/without/less Z" otherwise → ``negations`` ("not too fast"
   → "fast"; "without drums or vocals" → both); "anything but fast" → negation "fast".
   After a cue, a name that is not spelled exactly is linked fuzzily (rapidfuzz ratio ≥
   ``fuzzy_cutoff``), or as the start of at most ``max_candidates`` titles ("Atlanta" →
   "Atlanta Hornpipe"); a capitalised mention that links to nothing goes to ``unknown``
   (with an unlinked ``EntityRef`` whose ``candidates`` are the closest names); a
   lower-case one ("sounds like rain") is read as a phrase.
4. Everything else that is left is split into ``phrases`` at commas, "and", "but",
   "with" (never inside a matched name: "Jesu, meine Freude" stays whole), with filler
   ("songs", "something", "the") trimmed from the edges. A bare entity name outside any
   cue ("Bach, no vocals") is a similarity anchor too; a bare phrase that is a close
   misspelling of a name (ratio ≥ ``bare_fuzzy_cutoff``) is linked as one.

What the engine gets (:class:`~kgjemb.query.types.ParsedQuery`):

- ``entities``: similarity anchors are those with ``role == "like"``, ``id`` set and
  ``label`` Artist/Album/Track; ``role`` by/not_by/exclude entities mirror ``filters``;
  ``id is None`` marks an unlinked mention (also listed in ``unknown``; its
  ``candidates`` are the closest names, to put in a warning); ``label == "Attribute"``
  entities are markers (see below), not anchors. ``candidates`` of a linked entity are the
  other nodes the same words could mean, as ``"Label:id (name)"``. ``how``: ``exact`` /
  ``alias`` = equal ignoring case and accents, ``fuzzy`` otherwise (score = rapidfuzz
  ratio). "X by Y" links the work X of artist Y (text "X by Y"): a work of Y named X, or
  whose title starts with X ("Largo by Lind Quartet" → "Largo (string quartet)"), or
  fuzzily like X; when Y has no such work, X is linked on its own and "by Y" becomes a
  ``by`` filter. "No 1" is a number, not a negation.
- ``filters``: ``by`` / ``not_by`` / ``exclude`` (``node_id`` = artist or work id, ``value``
  = its name), ``era`` (``value`` = era word, ``node_id`` = ``era:<word>`` when the graph
  has it), ``year_range`` (``value`` = ``"1720-1729"``, ``"-1799"``, ``"1751-"``),
  ``attribute`` / ``not_attribute`` (``node_id`` = attribute id such as ``key:d minor``).

Attributes named in the graph ("piano", "D minor") stay phrases for the text tower and are
*also* reported as ``EntityRef(label="Attribute")`` markers (role ``like``, or ``exclude``
when negated); they are not similarity anchors. Two attribute mentions also become filters:
"in <key/mode/meter>" ("in D minor") → ``Filter(attribute)``, and "no/without <attribute>"
("without vocals" when the graph has such an attribute) → ``Filter(not_attribute)``;
softer negations ("not too fast", "less X") stay negations only.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

from kgjemb.errors import QueryError
from kgjemb.graph.base import GraphExport
from kgjemb.query.parse.config import ParserConfig
from kgjemb.query.parse.gazetteer import Gazetteer
from kgjemb.query.parse.lexicon import DEFAULT_ERAS, find_time_filters
from kgjemb.query.parse.nlp import load_nlp, tokenizer_key
from kgjemb.query.parse.phrases import PhraseTable
from kgjemb.query.parse.reader import QueryReader
from kgjemb.query.types import ParsedQuery

__all__ = ["QueryParser", "load_nlp"]

logger = logging.getLogger(__name__)


class QueryParser:
    """Parse queries against one graph's names. Safe to share between threads.

    Build once per graph with :meth:`from_export` (the spaCy pipeline, ≈0.5 s once per
    process, and the names' token table, loaded from ``cache_dir`` when it holds one for
    these names), then call :meth:`parse` / :meth:`parse_batch`.

    >>> parser = QueryParser.from_export(store.export())  # doctest: +SKIP
    >>> p = parser.parse("songs like Jesu, meine Freude but on strings, not slow")  # doctest: +SKIP
    >>> [e.id for e in p.entities], p.phrases, p.negations  # doctest: +SKIP
    (['t_jesu'], ['on strings'], ['slow'])
    """

    def __init__(self, gazetteer: Gazetteer, *, nlp=None, config: ParserConfig = ParserConfig(),
                 cache_dir: str | os.PathLike | None = None) -> None:
        self.config = config
        self.gazetteer = gazetteer
        self.nlp = nlp if nlp is not None else load_nlp(config.model, config.exclude)
        # Every graph name as the tokens the pipeline's tokenizer makes of it; a query's
        # spans are found by look-ups (see :mod:`~kgjemb.query.parse.phrases`); the table
        # is cached per names and tokenizer, so a one-shot search does not tokenise them.
        patterns = gazetteer.patterns()
        self._phrases = PhraseTable.load_or_build(patterns, self.nlp.tokenizer, cache_dir=cache_dir,
                                                  tokenizer_key=tokenizer_key(self.nlp))
        if not patterns:
            logger.warning("query parser built from a graph with no names: nothing can be linked")
        eras = {n.name.lower(): n.id for n in gazetteer.nodes.values() if n.label == "Attribute" and n.kind == "era"}
        self._era_ids = eras
        self._eras = tuple(sorted(set(DEFAULT_ERAS) | set(eras)))
        self._reader = QueryReader(gazetteer, config)
        gazetteer.warm()

    @classmethod
    def from_export(cls, export: GraphExport, *, nlp=None, config: ParserConfig = ParserConfig(),
                    cache_dir: str | os.PathLike | None = None) -> "QueryParser":
        """Build a parser from a graph export (names, aliases, credits, attributes).

        ``nlp`` overrides the spaCy pipeline (e.g. ``spacy.blank("en")`` in tests where
        the statistical model is not the point; negation scope over "and" then falls back
        to "ends the scope"). ``cache_dir`` (None: no cache) keeps the names' token table
        between processes.
        """
        return cls(Gazetteer.from_export(export), nlp=nlp, config=config, cache_dir=cache_dir)

    def _check(self, query: str) -> str:
        if not isinstance(query, str):
            raise QueryError(f"query must be a string, got {type(query).__name__}")
        if not query.strip():
            raise QueryError("query is empty")
        if len(query) > self.config.max_chars:
            raise QueryError(
                f"query is {len(query)} characters long; the limit is {self.config.max_chars}"
            )
        return query

    def parse(self, query: str) -> ParsedQuery:
        """Parse one query. Raises :class:`QueryError` when it is empty or over ``max_chars``."""
        query = self._check(query)
        return self._finish(query, self.nlp.make_doc(query.strip()))

    def parse_batch(self, queries: Sequence[str]) -> list[ParsedQuery]:
        """Parse many queries; validates every query first (the error names the position of
        the first bad one: "queries[3]: query is empty")."""
        if isinstance(queries, str):
            raise QueryError("parse_batch takes a list of queries, got one string")
        checked = []
        for i, q in enumerate(queries):
            try:
                checked.append(self._check(q))
            except QueryError as err:
                raise QueryError(f"queries[{i}]: {err}") from err
        return [self._finish(q, self.nlp.make_doc(q.strip())) for q in checked]

    def _tag(self, doc) -> None:
        """The pipeline's components (tok2vec, tagger, attribute ruler) on a tokenised doc,
        in place; the reader calls it only when a rule reads a part of speech."""
        for _name, component in self.nlp.pipeline:
            doc = component(doc)

    def _finish(self, query: str, doc) -> ParsedQuery:
        """Names, times and the reading of a doc that is tokenised only (``make_doc``):
        every rule but one reads words, not tags, so the tagger runs on demand."""
        doc.spans["kg"] = self._phrases.spans(doc)
        blocked = [(s.start_char, s.end_char) for s in doc.spans["kg"] if s.label_ != "Attribute"]
        times = find_time_filters(doc.text, eras=self._eras, era_ids=self._era_ids, blocked=blocked)
        return self._reader.read(query, doc, times, tag=self._tag)
