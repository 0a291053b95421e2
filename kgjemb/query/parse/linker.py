"""Look-ups over one parsed query doc: cue words, gazetteer names, fuzzy windows, "X by Y".

:class:`DocLinker` knows where things are in the doc (it does not decide what the query
means; :mod:`kgjemb.query.parse.reader` does). One instance per parse: no shared mutable state.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from rapidfuzz import fuzz

from kgjemb.query.parse.config import ParserConfig
from kgjemb.query.parse.gazetteer import DEFAULT_LABEL_ORDER, Gazetteer, Link
from kgjemb.graph.names import match_key
from kgjemb.query.parse.lexicon import CUES, KIND_NOUNS, LIST_JOINERS, TIME_NEGATORS, TimeMatch
from kgjemb.query.types import Filter


__all__ = ["Cue", "DocLinker"]


_CUE_INDEX: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
for _kind, _seqs in CUES.items():
    for _seq in _seqs:
        _CUE_INDEX[_seq[0]].append((_seq, _kind))
for _lst in _CUE_INDEX.values():
    _lst.sort(key=lambda sk: -len(sk[0]))



#: words of the "like" cues, to look past them for a kind noun ("pieces similar to X")
_LIKE_CUE_WORDS = frozenset(w for seq in CUES["like"] for w in seq) | {"the", "a", "an"}


def _kind_noun(word: str) -> str | None:
    return KIND_NOUNS.get(word) or (KIND_NOUNS.get(word[:-1]) if word.endswith("s") else None)


@dataclass(frozen=True)
class Cue:
    """A cue word sequence of ``kind`` (a key of :data:`CUES`) at tokens [start, end)."""

    kind: str
    start: int
    end: int
    seq: tuple[str, ...]


class DocLinker:
    """Where names, attributes and cues are in one parsed query doc, and what they link to."""

    def __init__(self, gaz: Gazetteer, config: ParserConfig, doc, times: list[TimeMatch],
                 tag: Callable[[object], object] | None = None) -> None:
        self.gaz, self.cfg, self.doc = gaz, config, doc
        self._tag = tag  # runs the pipeline's components on ``doc`` in place; None: already run
        self.n = len(doc)
        self.low = [t.lower_ for t in doc]
        self.consumed = [False] * self.n
        # time expressions found in the text: (filter, its text, negated?); the reader
        # turns them into filters or negations, the tokens are consumed here
        self.times: list[tuple[Filter, str, bool]] = []
        for tm in times:
            span = doc.char_span(tm.start, tm.end, alignment_mode="expand")
            if span is None:
                continue
            start = span.start
            negated = start > 0 and self.low[start - 1] in TIME_NEGATORS
            for k in range(start - negated, span.end):
                self.consumed[k] = True
            self.times.append((tm.filter, span.text, negated))
        self.starts: dict[int, list] = defaultdict(list)
        for span in doc.spans["kg"]:
            if not any(self.consumed[span.start : span.end]):
                self.starts[span.start].append(span)
        self.fuzzy_budget = config.max_fuzzy_lookups  # bounds the cost of adversarial queries

    def pos(self, i: int) -> str | None:
        """Coarse part of speech of token ``i``, or None when the pipeline has no tagger.
        The doc is tagged here, the first time a rule asks: most queries never do, and
        the tagger (tok2vec + tagger) is most of what parsing a query costs."""
        if self._tag is not None:
            tag, self._tag = self._tag, None
            tag(self.doc)
        return self.doc[i].pos_ if self.doc.has_annotation("POS") else None

    def fuzzy(self, text: str, **kwargs) -> list[Link]:
        """:meth:`Gazetteer.fuzzy` while this parse's budget of scans lasts, then nothing."""
        if self.fuzzy_budget <= 0:
            return []
        self.fuzzy_budget -= 1
        return self.gaz.fuzzy(text, **kwargs)

    def closest(self, text: str) -> list[str]:
        """Nearest names for an unknown mention (costs one scan of the budget)."""
        if self.fuzzy_budget <= 0:
            return []
        self.fuzzy_budget -= 1
        return self.gaz.closest(text, limit=self.cfg.max_candidates)

    # -- look-ups -----------------------------------------------------------------------

    def cue_at(self, i: int) -> Cue | None:
        """The longest cue starting at token ``i`` ("No 1" is a number, not a negation)."""
        for seq, kind in _CUE_INDEX.get(self.low[i], ()):
            j = i + len(seq)
            if j <= self.n and tuple(self.low[i:j]) == seq and not any(self.consumed[i:j]):
                if seq == ("no",) and j < self.n and (self.doc[j].like_num or self.low[j] == "."):
                    continue
                return Cue(kind, i, j, seq)
        return None

    def exact_at(self, i: int, labels, *, bare: bool = False) -> tuple[int, list[Link]] | None:
        """Longest gazetteer span starting at ``i`` with a node of ``labels``."""
        by_end: dict[int, list[Link]] = defaultdict(list)
        attr_ends: set[int] = set()
        for span in self.starts.get(i, ()):
            if span.label_ == "Attribute":
                attr_ends.add(span.end)
            if span.label_ in labels:
                by_end[span.end].extend(self.gaz.exact(span.text, key=span.id_))
        for end in sorted(by_end, reverse=True):
            if not by_end[end]:
                continue
            if bare and (end in attr_ends or (end - i == 1 and self.doc[i].is_stop) or self.only_attributes(i, end)):
                continue  # bare words that are attributes or stop words are not a name ("slow air")
            return end, by_end[end]
        return None

    def only_attributes(self, a: int, b: int) -> bool:
        """Whether every content word in [a, b) is part of an attribute name."""
        covered = {k for s, e, _ in self.attributes_in(a, b) for k in range(s, e)}
        content = [k for k in range(a, b) if not (self.doc[k].is_stop or self.doc[k].is_punct)]
        return bool(content) and all(k in covered for k in content)

    def fuzzy_at(self, i: int, labels, cutoff: float) -> tuple[int, list[Link]] | None:
        """Best fuzzy name over token windows starting at ``i`` (stops at cues and clauses)."""
        if self.doc[i].is_punct or self.consumed[i]:
            return None
        best: tuple[int, list[Link]] | None = None
        limit = min(self.n, i + self.gaz.max_tokens + 2)
        for j in range(i + 1, limit + 1):
            last = j - 1
            cue = self.cue_at(last) if last > i else None
            if self.consumed[last] or self.low[last] in ("but", ";") or (
                cue is not None and cue.kind not in ("boundary",)
            ):
                break
            if self.doc[last].is_punct or self.low[last] in LIST_JOINERS:
                continue
            links = self.fuzzy(self.doc[i:j].text, labels=labels, cutoff=cutoff, limit=self.cfg.max_candidates)
            if links and (best is None or links[0].score > best[1][0].score):
                best = (j, links)
        return best

    def label_order(self, i: int) -> tuple[str, ...]:
        """Label preference at a mention (see :meth:`Gazetteer.rank`).

        A kind noun right before it puts that label first ("the track X", "album X").
        A kind noun before a similarity cue ("pieces like X", "albums similar to X") keeps
        artists first ("songs like Bach") but ranks that label before the other works.
        """
        k = i - 1
        while k >= 0 and self.low[k] in ("the", "a", "an"):
            k -= 1
        if k >= 0:
            label = _kind_noun(self.low[k])
            if label and (k == 0 or self.low[k - 1] in ("the", "a", "an", "like", "to", "of")):
                return (label, *[lb for lb in DEFAULT_LABEL_ORDER if lb != label])
        while k >= 0 and self.low[k] in _LIKE_CUE_WORDS:
            k -= 1
        if 0 <= k < i - 1:
            label = _kind_noun(self.low[k])
            if label in ("Track", "Album"):
                rest = [lb for lb in DEFAULT_LABEL_ORDER if lb not in ("Artist", label)]
                return ("Artist", label, *rest)
        return DEFAULT_LABEL_ORDER

    def artist_after(self, cue: Cue | None) -> tuple[int, list[Link]] | None:
        """After a "by" cue: an artist spelt exactly or fuzzily."""
        if cue is None or cue.kind != "by" or cue.end >= self.n:
            return None
        return self.exact_at(cue.end, ("Artist",)) or self.fuzzy_at(cue.end, ("Artist",), self.cfg.fuzzy_cutoff)

    def works_of(self, artist_links: list[Link]) -> set[str]:
        top = Gazetteer.rank(artist_links)
        best = [ln.node.id for ln in top if ln.score >= top[0].score]
        return self.gaz.works_by(best)

    def attributes_in(self, a: int, b: int) -> list[tuple[int, int, list[Link]]]:
        out, k = [], a
        while k < b:
            best = None
            for span in self.starts.get(k, ()):
                if self.article_before_mode(span):
                    continue  # "in a major key": the article, then the mode major, not key A major
                if span.label_ == "Attribute" and span.end <= b and (best is None or span.end > best[1]):
                    best = (k, span.end, [])
            if best is None:
                k += 1
                continue
            for span in self.starts[k]:
                if span.label_ == "Attribute" and span.end == best[1]:
                    best[2].extend(self.gaz.exact(span.text, key=span.id_))
            out.append(best)
            k = best[1]
        return out

    def article_before_mode(self, span) -> bool:
        """True for the lower-case article of "a major key" / "a minor key": written "a"
        (not "A") and followed by "key", it cannot be the key of A."""
        doc = self.doc
        return (
            span.end - span.start == 2
            and doc[span.start].text == "a"
            and span.end < len(doc)
            and doc[span.end].lower_ in {"key", "keys", "tonality"}
        )

    def work_links(self, i: int, b: int, artist_links: list[Link]) -> list[Link]:
        """Works of the given artists named by tokens [i, b): exactly, as a version whose
        title extends the name ("Largo" → "Largo (string quartet)"), or fuzzily."""
        return self.works_named(self.doc[i:b].text, self.works_of(artist_links))

    def works_named(self, text: str, works: set[str], *, cutoff: float | None = None) -> list[Link]:
        """Works among ``works`` named ``text``: exact, title-prefix, else fuzzy at ``cutoff``
        (default ``by_fuzzy_cutoff``)."""
        exact = [ln for ln in self.gaz.exact(text) if ln.node.key in works]
        if exact:
            return exact
        form = match_key(text)
        versions = [
            Link(node, "fuzzy", float(fuzz.partial_ratio(form, match_key(node.name))), text)
            for node in (self.gaz.nodes[k] for k in sorted(works) if k in self.gaz.nodes)
            if form and match_key(node.name).startswith(form + " ")
        ]
        return versions or self.fuzzy(
            text, labels=("Track", "Album"), cutoff=cutoff or self.cfg.by_fuzzy_cutoff, restrict=works,
            limit=self.cfg.max_candidates,
        )
