"""The left-to-right reading of one query (rules: see :mod:`kgjemb.query.parser`).

A :class:`QueryReader` is shared and stateless; each :meth:`QueryReader.read` call works on
its own :class:`_Walk`, so concurrent parses never share mutable state.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kgjemb.query.gazetteer import DEFAULT_LABEL_ORDER, ENTITY_LABELS, Gazetteer, Link
from kgjemb.query.patterns import CUES, DEGREE_WORDS, FILLER_WORDS, KIND_NOUNS, TimeMatch
from kgjemb.query.types import EntityRef, Filter, ParsedQuery

__all__ = ["QueryReader"]

#: negation cues that make "no <attribute>" a hard ``not_attribute`` filter
HARD_NEG = {("no",), ("without",), ("with", "no"), ("with", "out"), ("free", "of"), ("lacking",), ("none",), ("non",)}
#: attribute kinds that "in <attribute>" turns into a hard ``attribute`` filter
KEY_KINDS = {"key", "mode", "meter"}
#: words that end an unknown mention ("songs like Zzyzx on strings")
STOP_WORDS_UNKNOWN = {"on", "in", "for", "from", "at", "with", "played", "featuring", "over", "using", "during"}
TRAIL_FILLER = {"please", "songs", "tracks", "pieces", "tunes", "ones", "stuff"}
#: words that make a phrase on their own only noise ("music from the baroque era")
GENERIC = {"music", "sound", "sounds", "audio", "recording", "recordings"}
LIST_JOINERS = {",", "and", "or", "nor", "&", "/"}
ENTITY_ROLES = {"like", "by", "not_by", "exclude"}
_CUE_INDEX: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
for _kind, _seqs in CUES.items():
    for _seq in _seqs:
        _CUE_INDEX[_seq[0]].append((_seq, _kind))
for _lst in _CUE_INDEX.values():
    _lst.sort(key=lambda sk: -len(sk[0]))


@dataclass(frozen=True)
class _Cue:
    kind: str
    start: int
    end: int
    seq: tuple[str, ...]


class QueryReader:
    """Reads spaCy docs (with gazetteer spans under ``doc.spans["kg"]``) into ParsedQuery."""

    def __init__(self, gazetteer: Gazetteer, config) -> None:
        self.gaz = gazetteer
        self.config = config

    def read(self, query: str, doc, times: list[TimeMatch]) -> ParsedQuery:
        return _Walk(self.gaz, self.config, doc, times).run(query)


class _Walk:
    def __init__(self, gaz: Gazetteer, config, doc, times: list[TimeMatch]) -> None:
        self.gaz, self.cfg, self.doc = gaz, config, doc
        self.n = len(doc)
        self.low = [t.lower_ for t in doc]
        self.consumed = [False] * self.n
        self.filters: list[Filter] = []
        for tm in times:
            span = doc.char_span(tm.start, tm.end, alignment_mode="expand")
            if span is not None:
                for k in range(span.start, span.end):
                    self.consumed[k] = True
                self.filters.append(tm.filter)
        self.starts: dict[int, list] = defaultdict(list)
        for span in doc.spans["kg"]:
            if not any(self.consumed[span.start : span.end]):
                self.starts[span.start].append(span)
        self.has_pos = doc.has_annotation("POS")
        self.entities: list[EntityRef] = []
        self.phrases: list[str] = []
        self.negations: list[str] = []
        self.unknown: list[str] = []
        self.buf: list[int] = []
        self.buf_mode = "plain"
        self.neg_hard = False

    # -- look-ups -----------------------------------------------------------------------

    def cue_at(self, i: int) -> _Cue | None:
        for seq, kind in _CUE_INDEX.get(self.low[i], ()):
            j = i + len(seq)
            if j <= self.n and tuple(self.low[i:j]) == seq and not any(self.consumed[i:j]):
                return _Cue(kind, i, j, seq)
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
            if bare and (end in attr_ends or (end - i == 1 and self.doc[i].is_stop)):
                continue  # a bare word that is also an attribute or a stop word is not a name
            return end, by_end[end]
        return None

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
            links = self.gaz.fuzzy(self.doc[i:j].text, labels=labels, cutoff=cutoff, limit=self.cfg.max_candidates)
            if links and (best is None or links[0].score > best[1][0].score):
                best = (j, links)
        return best

    def label_order(self, i: int) -> tuple[str, ...]:
        """Label preference at a mention: a kind noun right before it ("the track X") wins."""
        k = i - 1
        while k >= 0 and self.low[k] in ("the", "a", "an"):
            k -= 1
        if k >= 0:
            word = self.low[k]
            label = KIND_NOUNS.get(word) or KIND_NOUNS.get(word[:-1] if word.endswith("s") else word)
            if label and (k == 0 or self.low[k - 1] in ("the", "a", "an", "like", "to", "of")):
                return (label, *[lb for lb in DEFAULT_LABEL_ORDER if lb != label])
        return DEFAULT_LABEL_ORDER

    def artist_after(self, cue: _Cue | None) -> tuple[int, list[Link]] | None:
        """After a "by" cue: an artist spelt exactly or fuzzily."""
        if cue is None or cue.kind != "by" or cue.end >= self.n:
            return None
        return self.exact_at(cue.end, ("Artist",)) or self.fuzzy_at(cue.end, ("Artist",), self.cfg.fuzzy_cutoff)

    def works_of(self, artist_links: list[Link]) -> set[str]:
        top = Gazetteer.rank(artist_links)
        best = [ln.node.id for ln in top if ln.score >= top[0].score]
        return self.gaz.works_by(best)

    # -- output -------------------------------------------------------------------------

    def emit(self, role: str, i: int, end: int, links: list[Link], *, order=None) -> None:
        ranked = Gazetteer.rank(links, label_order=order or self.label_order(i))
        best = ranked[0]
        self.entities.append(
            EntityRef(
                text=self.doc[i:end].text,
                label=best.node.label,
                id=best.node.id,
                name=best.node.name,
                score=round(best.score, 1),
                how=best.how,
                role=role,
                candidates=[ln.node.describe() for ln in ranked[1 : 1 + self.cfg.max_candidates]],
            )
        )
        if role != "like":
            self.filters.append(Filter(kind=role, value=best.node.name, node_id=best.node.id))

    def emit_unknown(self, role: str, text: str, candidates: list[str]) -> None:
        self.unknown.append(text)
        self.entities.append(EntityRef(text=text, role=role, how="none", candidates=candidates))

    # -- slots ----------------------------------------------------------------------------

    def slot(self, i: int, role: str, *, bare: bool = False) -> int | None:
        """Link the name that starts at ``i`` in a ``role`` slot; return where it ends."""
        labels = ("Artist",) if role in ("by", "not_by") else ENTITY_LABELS
        if not bare:  # 'like "Ode to Joy"', "like the Ode to Joy": skip quotes and articles
            k = i
            while k < self.n - 1 and (self.doc[k].is_quote or self.low[k] in ("the", "a", "an")):
                k += 1
            if k > i and self.exact_at(k, labels) is not None:
                i = k
        ex = self.exact_at(i, labels, bare=bare)
        if ex is not None:
            end, links = ex
            if role == "like":
                art = self.artist_after(self.cue_at(end) if end < self.n else None)
                top = Gazetteer.rank(links, label_order=self.label_order(i))[0]
                if art is not None and top.node.label in ("Track", "Album"):
                    works = self.works_of(art[1])
                    mine = [ln for ln in links if ln.node.key in works]
                    self.emit(role, i, art[0], mine or links, order=("Track", "Album", "Artist"))
                    return art[0]
            self.emit(role, i, end, links)
            return end
        if bare:
            return None
        if role == "like":
            done = self.work_by_lookahead(i)
            if done is not None:
                return done
        fz = self.fuzzy_at(i, labels, self.cfg.fuzzy_cutoff)
        if fz is not None:
            self.emit(role, i, fz[0], fz[1])
            return fz[0]
        return None

    def work_by_lookahead(self, i: int) -> int | None:
        """"X by Y" with X not spelt exactly: X among Y's works (fuzzy, lower cut-off)."""
        for b in range(i + 1, min(self.n, i + self.gaz.max_tokens + 3)):
            cue = self.cue_at(b)
            if self.consumed[b] or self.low[b] in ("but", ";") or (cue and cue.kind not in ("boundary", "by")):
                return None
            art = self.artist_after(cue)
            if art is None:
                continue
            links = self.work_links(i, b, art[1])
            if links:
                self.emit("like", i, art[0], links, order=("Track", "Album", "Artist"))
            else:  # an unknown work of a known artist: keep the artist as the anchor
                text = self.doc[i:b].text
                names = [self.gaz.nodes[k].name for k in sorted(self.works_of(art[1]))]
                self.emit_unknown("like", text, names[: self.cfg.max_candidates])
                self.emit("like", cue.end, art[0], art[1])
            return art[0]
        return None

    def work_links(self, i: int, b: int, artist_links: list[Link]) -> list[Link]:
        text = self.doc[i:b].text
        works = self.works_of(artist_links)
        exact = [ln for ln in self.gaz.exact(text) if ln.node.key in works]
        return exact or self.gaz.fuzzy(
            text, labels=("Track", "Album"), cutoff=self.cfg.by_fuzzy_cutoff, restrict=works, limit=self.cfg.max_candidates
        )

    def unknown_at(self, i: int, role: str) -> int:
        """A mention after a cue that links to nothing: unknown if it looks like a name."""
        j = i
        while j < self.n and not self.consumed[j] and self.cue_at(j) is None and (
            j == i or (self.low[j] not in STOP_WORDS_UNKNOWN and not self.starts.get(j))
        ):
            j += 1
        if j == i:
            return i
        toks = self.doc[i:j]
        covered = {k for s, e, _ in self.attributes_in(i, j) for k in range(s, e)}
        content = [t for t in toks if not (t.is_stop or t.is_punct or t.i in covered)]
        # a mention counts as a name when it is written like one and is not just attribute words
        looks_like_name = bool(content) and any(
            t.is_title or t.is_upper or t.like_num or not t.is_ascii for t in content
        )
        if role != "like" or looks_like_name:
            self.emit_unknown(role, toks.text, self.gaz.closest(toks.text, limit=self.cfg.max_candidates))
        else:
            self.buf.extend(range(i, j))
            self.buf_mode = "plain"
        return j

    # -- phrases --------------------------------------------------------------------------

    def flush(self) -> None:
        if not self.buf:
            return
        a, b, mode = self.buf[0], self.buf[-1] + 1, self.buf_mode
        self.buf, self.buf_mode = [], "plain"
        doc, low = self.doc, self.low
        while a < b and (low[a] in FILLER_WORDS or doc[a].is_punct or (mode == "neg" and low[a] in DEGREE_WORDS)):
            a += 1
        while b > a and (low[b - 1] in TRAIL_FILLER or doc[b - 1].is_punct):
            b -= 1
        if a >= b or all(
            doc[k].is_stop or doc[k].is_punct or low[k] in FILLER_WORDS or low[k] in GENERIC for k in range(a, b)
        ):
            return
        text = doc[a:b].text
        attrs = self.attributes_in(a, b)
        if mode == "plain":
            if not attrs:
                fz = self.gaz.fuzzy(text, cutoff=self.cfg.bare_fuzzy_cutoff, limit=self.cfg.max_candidates)
                if fz:
                    self.emit("like", a, b, fz)
                    return
            self.phrases.append(text)
        else:
            self.negations.append(text)
        for s, e, links in attrs:
            ranked = Gazetteer.rank(links)
            node = ranked[0].node
            role = "like" if mode == "plain" else "exclude"
            self.entities.append(
                EntityRef(
                    text=doc[s:e].text, label="Attribute", id=node.id, name=node.name, score=100.0,
                    how=ranked[0].how, role=role,
                    candidates=[ln.node.describe() for ln in ranked[1 : 1 + self.cfg.max_candidates]],
                )
            )
            if mode == "plain" and s > 0 and low[s - 1] == "in" and node.kind in KEY_KINDS:
                self.filters.append(Filter(kind="attribute", value=node.name, node_id=node.id))
            if mode == "neg" and self.neg_hard and (s, e) == (a, b):
                self.filters.append(Filter(kind="not_attribute", value=node.name, node_id=node.id))

    def attributes_in(self, a: int, b: int) -> list[tuple[int, int, list[Link]]]:
        out, k = [], a
        while k < b:
            best = None
            for span in self.starts.get(k, ()):
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

    # -- the walk -------------------------------------------------------------------------

    def run(self, query: str) -> ParsedQuery:
        i, mode, carry = 0, "plain", None
        while i < self.n:
            if self.consumed[i]:
                self.flush()
                i, mode, carry = i + 1, "plain", None
                continue
            cue = self.cue_at(i)
            if cue is not None and cue.kind != "boundary":
                ex = self.exact_at(i, ENTITY_LABELS)
                if ex is not None and ex[0] - i > max(1, cue.end - cue.start):
                    cue = None  # a longer name wins over a cue word ("By the Rivers of Babylon")
            if cue is not None:
                i, mode, carry = self.on_cue(cue, mode, carry)
                continue
            if mode == "neg" and not self.buf:
                if self.low[i] in DEGREE_WORDS:
                    i += 1
                    continue
                end = self.slot(i, "exclude", bare=True)
                if end is not None:
                    i, carry = end, "exclude"
                    continue
                self.buf_mode = "neg"
            if mode == "plain":
                end = self.slot(i, "like", bare=True)
                if end is not None:
                    self.flush()
                    i, carry = end, "like"
                    continue
            self.buf.append(i)
            if mode == "neg":
                self.buf_mode = "neg"
            carry = None
            i += 1
        self.flush()
        return self.result(query)

    def on_cue(self, cue: _Cue, mode: str, carry: str | None) -> tuple[int, str, str | None]:
        kind = cue.kind
        if kind == "filler":
            self.flush()
            return cue.end, "plain", None
        if kind == "boundary":
            self.flush()
            nxt = cue.end
            word = self.low[cue.start]
            if carry and word in LIST_JOINERS and nxt < self.n:
                end = self.slot(nxt, carry, bare=carry == "like")
                if end is not None:
                    return end, "plain", carry
            if mode == "neg" and nxt < self.n and (
                word in ("or", "nor")
                or (word == "and" and self.neg_hard and self.has_pos and self.doc[nxt].pos_ in ("NOUN", "PROPN"))
            ):
                return nxt, "neg", None
            return nxt, "plain", None
        if kind == "by":
            art = self.artist_after(cue)
            if art is None:  # "played by a string quartet": just words of a phrase
                self.buf.extend(range(cue.start, cue.end))
                return cue.end, mode, None
            if self.buf and self.buf_mode == "plain":
                links = self.work_links(self.buf[0], cue.start, art[1])
                if links:
                    start = self.buf[0]
                    self.buf = []
                    self.emit("like", start, art[0], links, order=("Track", "Album", "Artist"))
                    return art[0], "plain", "like"
            self.flush()
            self.emit("by", cue.end, art[0], art[1])
            return art[0], "plain", "by"
        self.flush()
        if kind == "neg" and cue.end < self.n:
            nxt = self.cue_at(cue.end)
            if nxt is not None and nxt.kind == "like":  # "not like X" excludes X
                cue, kind = nxt, "exclude"
        if kind in ("like", "not_by", "exclude"):
            if cue.end >= self.n:
                return cue.end, "plain", None
            end = self.slot(cue.end, kind)
            if end is not None:
                return end, "plain", kind
            if kind == "exclude":  # "anything but fast": a negated phrase
                self.neg_hard = False
                return cue.end, "neg", None
            return self.unknown_at(cue.end, kind), "plain", None
        self.neg_hard = cue.seq in HARD_NEG  # kind == "neg"
        return cue.end, "neg", None

    def result(self, query: str) -> ParsedQuery:
        intents = []
        if any(e.role == "like" and e.label != "Attribute" for e in self.entities):
            intents.append("similarity")
        if self.phrases:
            intents.append("attribute")
        if self.negations:
            intents.append("negation")
        if self.filters:
            intents.append("filter")
        return ParsedQuery(
            query=query,
            intents=intents,
            entities=_dedupe_entities(self.entities),
            phrases=_dedupe(self.phrases),
            negations=_dedupe(self.negations),
            filters=_dedupe_filters(self.filters),
            unknown=_dedupe(self.unknown),
        )


def _dedupe(items: list[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        key = item.casefold()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _dedupe_filters(items: list[Filter]) -> list[Filter]:
    seen, out = set(), []
    for f in items:
        key = (f.kind, f.value, f.node_id)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _dedupe_entities(items: list[EntityRef]) -> list[EntityRef]:
    """One reference per (role, node); unlinked mentions per (role, text)."""
    seen, out = set(), []
    for e in items:
        key = (e.role, e.label, e.id) if e.id is not None else (e.role, None, e.text.casefold())
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
