"""A name gazetteer built from the knowledge graph: exact spaCy span matching + fuzzy linking.

spaCy's statistical NER does not know music names ("Eagles" → GPE), so entity mentions
are found by a :class:`~kgjemb.query.parse.phrases.PhraseTable` (what a spaCy ``SpanRuler``
with a ``PhraseMatcher`` would find, as dict look-ups) whose phrase patterns are the graph's
names (artist names and aliases, album and track titles and their short forms such as
"Jesu, meine Freude" for "Jesu, meine Freude (BWV 358)", attribute names), matched
case-insensitively on the ``LOWER`` token attribute. Every match carries its node as
``span.id_ == "Label:id"`` and ``span.label_ == "Label"``; overlapping and duplicate
matches are all kept (``spans_filter=None``) so that ambiguity can be resolved later.

Misspellings ("Bethoven", "Jesu meine Freude") are linked by :meth:`Gazetteer.fuzzy`:
rapidfuzz ``fuzz.ratio`` between normalised strings (casefolded, accents and punctuation
removed), over token windows chosen by the parser.

Ambiguity rule (:meth:`Gazetteer.rank`): candidates for one span are ordered by
(1) exact or alias matches before fuzzy ones, fuzzy ones by descending score;
(2) label preference: ``Artist > Album > Track > Attribute`` for bare names, unless the
query names the kind right before the mention ("the track X", "album X"), in which case
that label comes first; a kind noun before a similarity cue ("pieces like X", "albums
similar to X") ranks that label right after Artist; "X by Y" prefers the works of Y;
(3) a name before an alias; (4) an original before its renditions (VERSION_OF);
(5) graph degree (better connected nodes first); (6) id.
The first is linked; the others are reported as ``candidates`` ("Label:id (name)").
"""
from __future__ import annotations

import bisect
import logging
import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Literal

import pandas as pd
from rapidfuzz import fuzz

from kgjemb.graph.base import GraphExport
from kgjemb.graph.names import aliases_for, fuzzy_extract, match_key, normalise_name, plural_variants, strip_accents

__all__ = ["DEFAULT_LABEL_ORDER", "ENTITY_LABELS", "GazNode", "Gazetteer", "Link"]

logger = logging.getLogger(__name__)

#: Labels that can be similarity anchors or by/exclude filters (attributes cannot).
ENTITY_LABELS: tuple[str, ...] = ("Artist", "Album", "Track")
#: Default label order for bare names (see module docstring).
DEFAULT_LABEL_ORDER: tuple[str, ...] = ("Artist", "Album", "Track", "Attribute")
_HOW_RANK = {"exact": 0, "alias": 1, "fuzzy": 2}
_CHOICES_LOCK = threading.Lock()


@dataclass(frozen=True)
class GazNode:
    """One graph node the gazetteer knows by name."""

    label: str
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    kind: str | None = None  # attribute kind (Attribute nodes only)
    degree: int = 0
    is_version: bool = False  # a rendition (VERSION_OF another track): ranks after the original

    @property
    def key(self) -> str:
        """``Label:id``: node ids are unique per label only."""
        return f"{self.label}:{self.id}"

    def describe(self) -> str:
        return f"{self.key} ({self.name})"


@dataclass(frozen=True)
class Link:
    """A node linked to a query span, with how it matched and a 0–100 score."""

    node: GazNode
    how: Literal["exact", "alias", "fuzzy"]
    score: float
    matched: str = ""


@dataclass
class Gazetteer:
    """Names of graph nodes, for exact (spaCy) and fuzzy (rapidfuzz) linking.

    Build with :meth:`from_export`. ``surfaces`` maps a normalised surface form to the
    nodes it names, each with how (``exact`` for a name/title, ``alias`` otherwise).
    """

    nodes: dict[str, GazNode] = field(default_factory=dict)  # "Label:id" -> node
    surfaces: dict[str, list[tuple[GazNode, str]]] = field(default_factory=dict)
    artists_of: dict[str, set[str]] = field(default_factory=dict)  # work key -> artist ids
    works_of: dict[str, list[str]] = field(default_factory=dict)  # artist id -> work keys
    max_tokens: int = 1
    # lazily built look-up structures (guarded by _CHOICES_LOCK; :meth:`warm` builds them)
    _choices: dict = field(default_factory=dict, init=False, repr=False)
    _sorted_forms: list[str] | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_export(cls, export: GraphExport) -> "Gazetteer":
        """Collect names from a :class:`GraphExport` (Artist name+aliases, Album/Track
        titles, Attribute names).

        >>> gaz = Gazetteer.from_export(store.export())  # doctest: +SKIP
        """
        degree: dict[str, int] = defaultdict(int)
        for (src_label, _, dst_label), frame in export.edges.items():
            for node_id in frame["src"]:
                degree[f"{src_label}:{node_id}"] += 1
            for node_id in frame["dst"]:
                degree[f"{dst_label}:{node_id}"] += 1
        version_frame = export.edges.get(("Track", "VERSION_OF", "Track"))
        versions = set(map(str, version_frame["src"])) if version_frame is not None else set()
        gaz = cls()
        attr_frame = export.nodes.get("Attribute")
        attr_names = {match_key(str(n)) for n in (attr_frame["name"] if attr_frame is not None else []) if n}
        for label in ("Artist", "Album", "Track", "Attribute"):
            frame = export.nodes.get(label)
            if frame is None or frame.empty:
                continue
            name_col = "name" if label in ("Artist", "Attribute") else "title"
            for row in frame.to_dict("records"):
                name = row.get(name_col)
                if name is None or (isinstance(name, float) and pd.isna(name)) or not str(name).strip():
                    continue
                node = GazNode(
                    label=label,
                    id=str(row["id"]),
                    name=str(name).strip(),
                    aliases=aliases_for(label, str(name).strip(), row.get("aliases"), attr_names),
                    kind=str(row["kind"]) if label == "Attribute" and row.get("kind") else None,
                    degree=degree.get(f"{label}:{row['id']}", 0),
                    is_version=label == "Track" and str(row["id"]) in versions,
                )
                gaz._add(node)
        gaz._add_credits(export)
        logger.info("gazetteer: %d nodes, %d surface forms", len(gaz.nodes), len(gaz.surfaces))
        return gaz

    def _add(self, node: GazNode) -> None:
        self.nodes[node.key] = node
        forms = [(node.name, "exact")] + [(a, "alias") for a in node.aliases]
        if node.label == "Attribute":
            forms += [(v, "alias") for v in plural_variants(node.name.lower())]
        for text, how in forms:
            key = match_key(text)
            if not key:
                continue
            bucket = self.surfaces.setdefault(key, [])
            if not any(n.key == node.key for n, _ in bucket):
                bucket.append((node, how))
            self.max_tokens = max(self.max_tokens, len(key.split()))

    def _add_credits(self, export: GraphExport) -> None:
        credits: dict[str, set[str]] = defaultdict(set)
        for key in (("Track", "BY", "Artist"), ("Album", "BY", "Artist")):
            frame = export.edges.get(key)
            if frame is not None:
                for src, dst in zip(frame["src"], frame["dst"]):
                    credits[f"{key[0]}:{src}"].add(str(dst))
        on = export.edges.get(("Track", "ON", "Album"))
        if on is not None:  # a track on an album inherits the album's credits
            for src, dst in zip(on["src"], on["dst"]):
                credits[f"Track:{src}"] |= credits.get(f"Album:{dst}", set())
        self.artists_of = dict(credits)
        works: dict[str, list[str]] = defaultdict(list)
        for work, artists in credits.items():
            for artist in artists:
                works[artist].append(work)
        self.works_of = dict(works)
        self._choices = {}  # names changed: fuzzy choice lists are rebuilt lazily
        self._sorted_forms = None

    # -- spaCy patterns ---------------------------------------------------------------

    def patterns(self) -> list[dict]:
        """Phrase patterns (SpanRuler's format): one per (node, surface form, accent
        variant), in the same order in every process."""
        out: list[dict] = []
        seen: set[tuple[str, str]] = set()
        for node in self.nodes.values():
            forms = [node.name, *node.aliases]
            if node.label == "Attribute":
                forms += plural_variants(node.name.lower())
            for form in forms:
                for text in dict.fromkeys((form, strip_accents(form))):  # ordered: same list in every process
                    if (node.key, text.lower()) in seen or not text.strip():
                        continue
                    seen.add((node.key, text.lower()))
                    out.append({"label": node.label, "pattern": text, "id": node.key})
        return out

    # -- linking ----------------------------------------------------------------------

    def exact(self, text: str, key: str | None = None) -> list[Link]:
        """Links of nodes whose name/alias equals ``text`` (case- and accent-insensitive).

        ``key`` (``Label:id``) restricts to one node: the id a spaCy span carries. Names
        that differ from ``text`` only in punctuation ("Jesu meine Freude") come back as
        ``fuzzy`` links scored by rapidfuzz ratio, so ``exact`` keeps the meaning of
        :class:`~kgjemb.graph.base.NameMatch`.
        """
        wanted = normalise_name(text)
        links = []
        for node, how in self.surfaces.get(match_key(text), []):
            if key is not None and node.key != key:
                continue
            forms = [node.name] if how == "exact" else [*node.aliases, *plural_variants(node.name.lower())]
            if any(normalise_name(f) == wanted for f in forms):
                links.append(Link(node, how, 100.0, text))
            else:
                score = max(fuzz.ratio(normalise_name(f), wanted) for f in forms) if forms else 0.0
                links.append(Link(node, "fuzzy", float(score), text))
        return links

    def warm(self) -> None:
        """Build the fuzzy choice lists the parser uses, so that parsing never mutates."""
        for labels in (ENTITY_LABELS, ("Artist",)):
            self._fuzzy_choices(tuple(sorted(labels)))
        self.prefixed("warm")

    def _fuzzy_choices(self, labels: tuple[str, ...]) -> list[str]:
        with _CHOICES_LOCK:  # lazily built per label set; guarded for concurrent readers
            cache = self._choices
            if labels not in cache:
                forms = [f for f, owners in self.surfaces.items() if any(n.label in labels for n, _ in owners)]
                forms.sort(key=len)  # sorted by length: fuzzy() scans only plausible lengths
                cache[labels] = forms
                cache[("len", labels)] = [len(f) for f in forms]
            return cache[labels]

    def _length_window(self, labels: tuple[str, ...], form: str, cutoff: float) -> list[str]:
        """Choices whose length allows ``ratio >= cutoff``: ratio = 2M/(a+b) <= 2·min/(a+b),
        so b must lie in [a·c/(2−c), a·(2−c)/c] with c = cutoff/100."""
        choices = self._fuzzy_choices(labels)
        lengths = self._choices[("len", labels)]
        c = cutoff / 100.0
        lo = bisect.bisect_left(lengths, math.floor(len(form) * c / (2 - c)))
        hi = bisect.bisect_right(lengths, math.ceil(len(form) * (2 - c) / c))
        return choices[lo:hi]

    def fuzzy(
        self,
        text: str,
        *,
        labels: Iterable[str] = ENTITY_LABELS,
        cutoff: float = 85.0,
        restrict: set[str] | None = None,
        limit: int = 5,
    ) -> list[Link]:
        """Nodes whose normalised name is within ``cutoff`` (rapidfuzz ``ratio``, 0–100) of
        ``text``, best first. ``restrict`` limits to these ``Label:id`` keys (e.g. the works
        of one artist, for "X by Y").

        >>> gaz.fuzzy("Bethoven")[0].node.name  # doctest: +SKIP
        'Ludwig van Beethoven'
        """
        labels = tuple(sorted(set(labels)))
        form = match_key(text)
        if not form:
            return []
        if restrict is not None:
            choices = sorted({match_key(self.nodes[k].name) for k in restrict if k in self.nodes})
        else:
            choices = self._length_window(labels, form, cutoff)
        found = fuzzy_extract(form, choices, cutoff=cutoff, limit=limit * 2)
        links: list[Link] = []
        for choice, score, _ in found:
            for node, how in self.surfaces.get(choice, []):
                if node.label in labels and (restrict is None or node.key in restrict):
                    links.append(Link(node, "fuzzy", float(score), text))
        return links

    def prefixed(self, text: str, *, labels: Iterable[str] = ("Track", "Album"), limit: int = 5) -> list[Link]:
        """Nodes with a name that starts with ``text`` as whole words ("Atlanta" →
        "Atlanta Hornpipe"), scored by ratio; an O(log n) bisect over the sorted names."""
        form = match_key(text)
        if len(form) < 4:
            return []
        with _CHOICES_LOCK:
            if self._sorted_forms is None:
                self._sorted_forms = sorted(self.surfaces)
        forms = self._sorted_forms
        links: list[Link] = []
        k = bisect.bisect_left(forms, form + " ")
        while k < len(forms) and forms[k].startswith(form + " ") and len(links) <= limit:
            for node, _how in self.surfaces[forms[k]]:
                if node.label in labels:
                    links.append(Link(node, "fuzzy", float(fuzz.ratio(form, forms[k])), text))
            k += 1
        return links[: limit + 1]

    def closest(self, text: str, *, limit: int = 3) -> list[str]:
        """The nearest entity names whatever their score: hints for unknown mentions."""
        form = match_key(text)
        if not form:
            return []
        choices = self._fuzzy_choices(tuple(sorted(ENTITY_LABELS)))
        # plain ratio: WRatio gives similar hints here but is ~8x slower on 20k names
        found = fuzzy_extract(form, choices, cutoff=0, limit=limit * 3)
        out: list[str] = []
        for choice, _, _ in found:
            for node, _how in self.surfaces.get(choice, []):
                if node.label in ENTITY_LABELS and node.name not in out:
                    out.append(node.name)
        return out[:limit]

    def works_by(self, artist_ids: Iterable[str]) -> set[str]:
        """``Label:id`` keys of the albums and tracks credited to any of these artists."""
        return {work for a in artist_ids for work in self.works_of.get(a, [])}

    @staticmethod
    def rank(links: list[Link], *, label_order: tuple[str, ...] = DEFAULT_LABEL_ORDER) -> list[Link]:
        """Order candidate links by the ambiguity rule of the module docstring; one link
        per node (its best)."""
        order = {lb: i for i, lb in enumerate(label_order)}
        ranked = sorted(
            links,
            key=lambda ln: (
                ln.how == "fuzzy",
                -ln.score,
                order.get(ln.node.label, len(order)),
                _HOW_RANK[ln.how],
                ln.node.is_version,
                -ln.node.degree,
                ln.node.id,
            ),
        )
        seen: set[str] = set()
        out = []
        for link in ranked:
            if link.node.key not in seen:
                seen.add(link.node.key)
                out.append(link)
        return out
