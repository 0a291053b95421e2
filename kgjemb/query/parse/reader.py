"""The left-to-right reading of one query (rules: see :mod:`kgjemb.query.parse.parser`).

A :class:`QueryReader` is shared and stateless; each :meth:`QueryReader.read` call works on
its own :class:`_Walk` (a :class:`~kgjemb.query.parse.linker.DocLinker` plus what has been read),
so concurrent parses never share mutable state.
"""
from __future__ import annotations

from typing import Callable

from kgjemb.query.parse.config import ParserConfig
from kgjemb.query.parse.gazetteer import ENTITY_LABELS, Gazetteer, Link
from kgjemb.query.parse.lexicon import (
    DEGREE_WORDS, FILLER_WORDS, GENERIC, HARD_NEG, LIST_JOINERS, NEG_VERBS, ONLY_WORDS, RELATION_CUES, STOP_WORDS_UNKNOWN,
    TRAIL_FILLER, TimeMatch,
)
from kgjemb.query.parse.linker import Cue, DocLinker
from kgjemb.query.types import EntityRef, Filter, ParsedQuery


__all__ = ["QueryReader"]

class QueryReader:
    """Reads spaCy docs (with gazetteer spans under ``doc.spans["kg"]``) into ParsedQuery."""

    def __init__(self, gazetteer: Gazetteer, config: ParserConfig) -> None:
        self.gaz = gazetteer
        self.config = config

    def read(self, query: str, doc, times: list[TimeMatch], *, tag: Callable[[object], object] | None = None) -> ParsedQuery:
        """``tag`` runs the tagger on ``doc`` in place when a rule first reads a part of
        speech (None: ``doc`` is tagged already, or cannot be)."""
        return _Walk(self.gaz, self.config, doc, times, tag).run(query)


class _Walk(DocLinker):
    """One reading: the look-ups of :class:`DocLinker` plus what has been read so far."""

    def __init__(self, gaz: Gazetteer, config: ParserConfig, doc, times: list[TimeMatch],
                 tag: Callable[[object], object] | None = None) -> None:
        super().__init__(gaz, config, doc, times, tag)
        self.entities: list[EntityRef] = []
        self.phrases: list[str] = []
        self.negations: list[str] = []
        self.filters: list[Filter] = []
        for f, text, negated in self.times:  # time filters first, in text order
            if negated:
                self._negate_time(f, text)
            else:
                self.filters.append(f)
        self.unknown: list[str] = []
        self.buf: list[int] = []  # token indices of the phrase being read
        self.buf_mode = "plain"  # or "neg"
        self.neg_hard = False  # the current negation cue is "no"/"without"-like
        self.prefer: tuple[str, ...] | None = None  # label order a relation cue asks for

    def _negate_time(self, f: Filter, text: str) -> None:
        """"not before 1800" → ``1800-``; "not from the baroque era" → ``not_attribute``
        era:baroque (when the graph has it); a negated range ("not from the 1720s") cannot
        be one filter: it is kept as a negated phrase."""
        if f.kind == "year_range" and f.value.startswith("-"):
            self.filters.append(Filter(kind="year_range", value=f"{int(f.value[1:]) + 1}-"))
        elif f.kind == "year_range" and f.value.endswith("-"):
            self.filters.append(Filter(kind="year_range", value=f"-{int(f.value[:-1]) - 1}"))
        elif f.kind == "era" and f.node_id:
            self.filters.append(Filter(kind="not_attribute", value=f.value, node_id=f.node_id))
            self.negations.append(f.value)
        else:
            words = text.split()
            while len(words) > 1 and words[0].lower() in ("from", "in", "of", "during", "around", "the"):
                words = words[1:]
            self.negations.append(f.value if f.kind == "era" else " ".join(words))

    # -- output -------------------------------------------------------------------------

    def emit(self, role: str, i: int, end: int, links: list[Link], *, order=None) -> None:
        ranked = Gazetteer.rank(links, label_order=order or self.prefer or self.label_order(i))
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
                    # X names some work exactly: only a close spelling of one of Y's beats it
                    mine = [ln for ln in links if ln.node.key in works] or self.works_named(
                        self.doc[i:end].text, works, cutoff=self.cfg.fuzzy_cutoff
                    )
                    if mine:  # else "by Y" is left to be read as a filter
                        self.emit(role, i, art[0], mine, order=("Track", "Album", "Artist"))
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
            forms = self.form_not_work(i, b, links)
            if forms:  # "like mazurkas by Chopin": the form, and the artist as the anchor (as in work_before)
                self.emit("like", i, b, forms)
                self.emit("like", cue.end, art[0], art[1])
            elif links:
                self.emit("like", i, art[0], links, order=("Track", "Album", "Artist"))
            else:  # an unknown work of a known artist: keep the artist as the anchor
                text = self.doc[i:b].text
                names = [self.gaz.nodes[k].name for k in sorted(self.works_of(art[1]))]
                self.emit_unknown("like", text, names[: self.cfg.max_candidates])
                self.emit("like", cue.end, art[0], art[1])
            return art[0]
        return None

    def unknown_at(self, i: int, role: str, *, lead: int | None = None) -> int:
        """A mention after a cue (from token ``lead``) that links to nothing: unknown when
        it looks like a name or follows "not by"; else its words (with the cue's, for "by":
        "played by a string quartet") are read as a phrase."""
        j = i
        while j < self.n and not self.consumed[j] and self.cue_at(j) is None and (
            j == i or (self.low[j] not in STOP_WORDS_UNKNOWN and not self.starts.get(j))
        ):
            j += 1
        if j == i:
            return i
        toks = self.doc[i:j]
        # a mention counts as a name when it is written like one and is not just attribute words
        looks_like_name = not self.only_attributes(i, j) and any(
            t.is_title or t.is_upper or t.like_num or not t.is_ascii for t in toks if not t.is_punct
        )
        if role == "not_by" or looks_like_name:
            # the start of a few titles ("Atlanta" → "Atlanta Hornpipe") beats "unknown"
            starts = self.gaz.prefixed(toks.text, limit=self.cfg.max_candidates) if role == "like" else []
            if starts and len(starts) <= self.cfg.max_candidates:
                self.emit(role, i, j, starts)
            else:
                self.emit_unknown(role, toks.text, self.closest(toks.text))
        else:
            self.buf.extend(range(i if lead is None else lead, j))
            self.buf_mode = "plain"
        return j

    def work_before(self, cue: Cue, artist_links: list[Link]) -> tuple[int, list[Link]] | None:
        """In "… X by Y", the best-matching work of Y named by a tail X of the phrase read so
        far ("melancholic Moonlit Sonata by Beethoven" → X = "Moonlit Sonata"). An X that names
        an attribute ("mazurkas", "string quartets") and no work of Y exactly is left to be
        read as that attribute with a "by Y" filter: the titles it only begins ("Mazurkas,
        Op. 6") or resembles are one album of many."""
        if not self.buf or self.buf_mode != "plain":
            return None
        best = None
        for start in range(self.buf[0], cue.start):
            if self.low[start] in FILLER_WORDS or self.doc[start].is_punct:
                continue
            if all(self.doc[k].is_stop or self.doc[k].is_punct for k in range(start, cue.start)):
                continue
            links = self.work_links(start, cue.start, artist_links)
            if links and self.form_not_work(start, cue.start, links):
                continue  # "mazurkas by Chopin": a form by an artist, not the work whose title starts so
            if links:
                score = Gazetteer.rank(links)[0].score
                if best is None or score > best[0]:
                    best = (score, start, links)
        return None if best is None else (best[1], best[2])

    def form_not_work(self, a: int, b: int, work_links: list[Link]) -> list[Link]:
        """In "X by Y" with X = tokens [a, b): the attributes X names exactly (or by an alias
        such as a plural) when none of Y's ``work_links`` is named exactly, i.e. when X is
        better read as a form by Y ("mazurkas by Chopin") than as a title it only begins
        or resembles; else []."""
        if any(ln.how in ("exact", "alias") for ln in work_links):
            return []
        return [ln for ln in self.gaz.exact(self.doc[a:b].text) if ln.node.label == "Attribute"]

    # -- phrases --------------------------------------------------------------------------

    def flush(self) -> None:
        if not self.buf:
            return
        a, b, mode = self.buf[0], self.buf[-1] + 1, self.buf_mode
        self.buf, self.buf_mode = [], "plain"
        doc, low = self.doc, self.low
        while a < b and (low[a] in FILLER_WORDS or doc[a].is_punct or (mode == "neg" and low[a] in DEGREE_WORDS)):
            a += 1
        while b > a and (low[b - 1] in TRAIL_FILLER or doc[b - 1].is_punct or doc[b - 1].is_stop):
            b -= 1
        if a >= b or all(
            doc[k].is_stop or doc[k].is_punct or low[k] in FILLER_WORDS or low[k] in GENERIC for k in range(a, b)
        ):
            return
        text = doc[a:b].text
        attrs = self.attributes_in(a, b)
        if mode == "plain":
            if not attrs:
                fz = self.fuzzy(text, cutoff=self.cfg.bare_fuzzy_cutoff, limit=self.cfg.max_candidates)
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
            # attributes are soft (facts scored beside the text tower); a hard filter only
            # when the user asks for one: "only in 6/8", "only piano"
            if mode == "plain" and self.only_before(s):
                self.filters.append(Filter(kind="attribute", value=node.name, node_id=node.id))

    def only_before(self, s: int) -> bool:
        """Whether "only" (or "exclusively", …) stands right before token ``s``, allowing a
        preposition or article between ("only in 6/8", "only on the piano")."""
        k = s - 1
        while k >= 0 and self.low[k] in ("in", "on", "for", "a", "an", "the", "played"):
            k -= 1
        return k >= 0 and self.low[k] in ONLY_WORDS

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
                if self.low[i] in DEGREE_WORDS or self.low[i] in NEG_VERBS:
                    # "don't want / doesn't have X" excludes X as firmly as "without X"
                    self.neg_hard = self.neg_hard or self.low[i] in NEG_VERBS - {"do", "does", "any"}
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

    def on_cue(self, cue: Cue, mode: str, carry: str | None) -> tuple[int, str, str | None]:
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
                or (word == "and" and self.neg_hard and self.pos(nxt) in ("NOUN", "PROPN"))
            ):
                return nxt, "neg", None
            return nxt, "plain", None
        if kind == "by":
            art = self.artist_after(cue)
            if art is None:  # "by The Chieftains": unknown; "played by a quartet": a phrase
                if cue.end >= self.n or mode == "neg":
                    self.buf.extend(range(cue.start, cue.end))
                    return cue.end, mode, None
                if not (self.buf and self.buf_mode == "plain" and self.buf[-1] == cue.start - 1):
                    self.flush()  # else the phrase read so far may go on through "by"
                return self.unknown_at(cue.end, "by", lead=cue.start), "plain", None
            found = self.work_before(cue, art[1])
            if found is not None:
                start, links = found
                self.buf = [k for k in self.buf if k < start]
                self.flush()
                self.emit("like", start, art[0], links, order=("Track", "Album", "Artist"))
                return art[0], "plain", "like"
            self.flush()
            self.emit("by", cue.end, art[0], art[1])
            return art[0], "plain", "by"
        self.flush()
        if kind in RELATION_CUES:  # "influenced by X", "other versions of X", …
            if cue.end >= self.n:
                return cue.end, "plain", None
            self.prefer = RELATION_LABELS.get(kind)
            try:
                end = self.slot(cue.end, "like")
            finally:
                self.prefer = None
            if end is None:
                return self.unknown_at(cue.end, "like"), "plain", None
            self.entities[-1] = self.entities[-1].model_copy(update={"relation": kind})
            return end, "plain", None
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
        if any(e.relation for e in self.entities):
            intents.append("relation")
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


#: the label a relation cue expects its entity to have, first ("other versions of X": a track)
RELATION_LABELS: dict[str, tuple[str, ...]] = {
    "versions": ("Track", "Album", "Artist", "Attribute"),
    "same_album": ("Track", "Album", "Artist", "Attribute"),
    "influenced_by": ("Artist", "Album", "Track", "Attribute"),
    "influenced": ("Artist", "Album", "Track", "Attribute"),
    "similar_artists": ("Artist", "Album", "Track", "Attribute"),
    "members": ("Artist", "Album", "Track", "Attribute"),
}


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
        key = (e.role, e.label, e.id, e.relation) if e.id is not None else (e.role, None, e.text.casefold())
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
