"""Text views of a track: what a listener might type to find it.

Every training step pairs a track's audio with one *view* of its attributes, so that the
text tower learns single tags ("violin"), tag lists ("violin, fast, d minor"), captions
("a fast reel in D major on fiddle and flute") and metadata sentences ("a string quartet
movement by Haydn", "from Ryan's Mammoth Collection") alike. Views are stochastic:

* attribute subsets of size k ~ U(1..L) (Doh et al., *Toward Universal Text-to-Music
  Retrieval*), so a short query is as much a positive as a full description;
* text dropout: words of a caption are dropped with probability ``word_dropout``;
* attribute-swap hard negatives (after *Augment, Drop & Swap*): one attribute value is
  replaced by another value of the same kind that the track does NOT have, giving a
  caption that is nearly right and must score below the true one.

Everything is driven by a ``numpy.random.Generator`` the caller passes in, so a seed fixes
every view.

>>> facts = track_facts(export)                      # one TrackFacts per Track row
>>> views = TextViews(facts, ViewConfig())
>>> rng = np.random.default_rng(0)
>>> views.sample(3, rng)
'a slow chorale for organ'
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kgjemb.graph.base import GraphExport

__all__ = ["TrackFacts", "ViewConfig", "TextViews", "track_facts", "caption", "tag_line"]

logger = logging.getLogger(__name__)

#: Order in which attribute kinds appear in a caption / tag line.
KIND_ORDER: tuple[str, ...] = (
    "tempo", "mood", "texture", "vocal", "era", "genre", "form", "ensemble", "instrument",
    "key", "mode", "meter", "region", "theme", "collection", "licence",
)
#: Kinds that describe the sound (used for captions and swaps); the rest are metadata.
SOUND_KINDS: frozenset[str] = frozenset(KIND_ORDER) - {"collection", "licence"}


@dataclass(frozen=True)
class TrackFacts:
    """What the graph says about one track, in plain strings.

    ``attributes`` are ``(kind, value)`` pairs (value as named in the catalog), sorted by
    ``KIND_ORDER``; ``artists`` are the names of every credited artist, primary first.
    """

    track_id: str
    title: str = ""
    artists: tuple[str, ...] = ()
    album: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ViewConfig:
    """How views are drawn. Probabilities of the view kinds need not sum to 1 (normalised).

    Defaults: captions 45 %, tag lists 30 %, single tags 10 %, metadata sentences 15 %;
    word dropout 0.1; at most 6 attributes in one view.
    """

    p_caption: float = 0.45
    p_tags: float = 0.30
    p_single: float = 0.10
    p_metadata: float = 0.15
    word_dropout: float = 0.1
    max_attributes: int = 6

    def __post_init__(self) -> None:
        probs = (self.p_caption, self.p_tags, self.p_single, self.p_metadata)
        if min(probs) < 0 or sum(probs) <= 0:
            raise ValueError(f"view probabilities must be >= 0 with a positive sum, got {probs}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {self.word_dropout}")
        if self.max_attributes < 1:
            raise ValueError(f"max_attributes must be >= 1, got {self.max_attributes}")


def _kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def track_facts(export: GraphExport) -> list[TrackFacts]:
    """One :class:`TrackFacts` per row of ``export.nodes["Track"]``, in that order.

    Built with pandas joins over the edge tables (no per-edge Python work beyond grouping).
    """
    tracks = export.nodes["Track"]
    artists = export.nodes["Artist"].set_index("id")["name"]
    albums = export.nodes["Album"].set_index("id")["title"]
    attrs = export.nodes["Attribute"].set_index("id")

    by = export.edges[("Track", "BY", "Artist")]
    by = by.assign(name=by["dst"].map(artists), primary=(by["role"] == "primary").astype(int))
    by = by.sort_values(["src", "primary", "dst"], ascending=[True, False, True])
    artist_names = by.groupby("src", sort=False)["name"].agg(lambda s: tuple(dict.fromkeys(s.dropna())))

    on = export.edges[("Track", "ON", "Album")]
    album_title = on.drop_duplicates("src").set_index("src")["dst"].map(albums)

    has = export.edges[("Track", "HAS", "Attribute")]
    has = has.assign(kind=has["dst"].map(attrs["kind"]), value=has["dst"].map(attrs["name"]))
    has = has.dropna(subset=["kind", "value"])
    has = has.assign(rank=has["kind"].map(_kind_rank)).sort_values(["src", "rank", "value"])
    pairs = has.groupby("src", sort=False)[["kind", "value"]].apply(
        lambda f: tuple(zip(f["kind"], f["value"]))
    ) if len(has) else pd.Series(dtype=object)

    out = []
    for tid, title in zip(tracks["id"], tracks["title"]):
        out.append(
            TrackFacts(
                track_id=tid,
                title=title if isinstance(title, str) else "",
                artists=artist_names.get(tid, ()),
                album=album_title.get(tid) if isinstance(album_title.get(tid), str) else None,
                attributes=pairs.get(tid, ()),
            )
        )
    return out


def tag_line(attributes: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    """Comma-separated, lower-cased values: ``"violin, fast, d minor"``."""
    return ", ".join(v.lower() for _, v in attributes)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def caption(attributes: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    """A templated caption from ``(kind, value)`` pairs (any subset, any order).

    >>> caption([("tempo", "fast"), ("form", "reel"), ("key", "D major"),
    ...          ("instrument", "fiddle"), ("instrument", "flute")])
    'a fast reel in D major on fiddle and flute'
    >>> caption([("tempo", "slow"), ("form", "chorale"), ("ensemble", "organ")])
    'a slow chorale for organ'
    """
    by_kind: dict[str, list[str]] = {}
    for kind, value in sorted(attributes, key=lambda kv: _kind_rank(kv[0])):
        by_kind.setdefault(kind, []).append(value)
    adjectives = [v for k in ("tempo", "mood", "texture", "vocal", "era") for v in by_kind.get(k, [])]
    forms = by_kind.get("form", [])
    genres = by_kind.get("genre", [])
    if forms:
        adjectives += genres
        noun = " ".join(forms[:1])
        extra_forms = forms[1:]
    elif genres:
        noun = genres[-1] + " piece" if len(genres) == 1 else genres[-1]
        adjectives += genres[:-1]
        extra_forms = []
    else:
        noun, extra_forms = "piece", []
    head = " ".join([*adjectives, noun])
    parts = [f"{_article(head)} {head}"]
    if extra_forms:
        parts.append(f"({_join(extra_forms)})")
    if "key" in by_kind:
        parts.append("in " + _join(by_kind["key"]))
    elif "mode" in by_kind:
        parts.append("in " + _join(by_kind["mode"]))
    if "key" in by_kind and "mode" in by_kind:
        keys = " ".join(by_kind["key"]).lower()
        modes = [m for m in by_kind["mode"] if m.lower() not in keys]
        if modes:
            parts.append("(" + _join(modes) + ")")
    if "meter" in by_kind:
        parts.append("in " + _join(by_kind["meter"]) + " time")
    if "ensemble" in by_kind:
        parts.append("for " + _join(by_kind["ensemble"]))
    if "instrument" in by_kind:
        parts.append(("with " if "ensemble" in by_kind else "on ") + _join(by_kind["instrument"]))
    if "region" in by_kind:
        parts.append("from " + _join(by_kind["region"]))
    if "theme" in by_kind:
        parts.append("about " + _join(by_kind["theme"]))
    if "collection" in by_kind:
        parts.append("from " + _join(by_kind["collection"]))
    return " ".join(parts)


@dataclass
class TextViews:
    """Draws text views and swap negatives for tracks described by ``facts``.

    ``vocab[kind]`` (every value of each kind seen in the catalog) is what swaps draw
    from. All methods take the ``numpy.random.Generator`` to use.
    """

    facts: list[TrackFacts]
    config: ViewConfig = field(default_factory=ViewConfig)
    vocab: dict[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        vocab: dict[str, set[str]] = {}
        for f in self.facts:
            for kind, value in f.attributes:
                vocab.setdefault(kind, set()).add(value)
        self.vocab = {k: tuple(sorted(v)) for k, v in vocab.items()}
        c = self.config
        p = np.array([c.p_caption, c.p_tags, c.p_single, c.p_metadata], dtype=float)
        self._p = p / p.sum()

    # -- pieces ---------------------------------------------------------------------------
    def subset(self, index: int, rng: np.random.Generator) -> list[tuple[str, str]]:
        """k ~ U(1..L) attributes of the track (L = min(#attributes, max_attributes)),
        sound attributes only when the track has any; empty if it has none."""
        attrs = [a for a in self.facts[index].attributes if a[0] in SOUND_KINDS] or list(
            self.facts[index].attributes
        )
        if not attrs:
            return []
        top = min(len(attrs), self.config.max_attributes)
        k = int(rng.integers(1, top + 1))
        pick = np.sort(rng.choice(len(attrs), size=k, replace=False))
        return [attrs[i] for i in pick]

    def metadata(self, index: int, rng: np.random.Generator) -> str:
        """A sentence about the track's credits, album or collection (falls back to its
        title): "a chorale by Bach", "from Ryan's Mammoth Collection"."""
        f = self.facts[index]
        forms = [v for k, v in f.attributes if k in ("form", "ensemble")]
        forms += [f"{v} piece" for k, v in f.attributes if k == "genre"]
        what = forms[int(rng.integers(len(forms)))] if forms else "piece"
        options = []
        if f.artists:
            options.append(f"{_article(what)} {what} by {f.artists[0]}")
            options.append(f"music by {f.artists[0]}")
        collections = [v for k, v in f.attributes if k == "collection"]
        if collections:
            options.append(f"from {collections[0]}")
        if f.album:
            options.append(f"from {f.album}")
        if f.title:
            options.append(f.title)
        return options[int(rng.integers(len(options)))] if options else what

    def _drop(self, items: list, rng: np.random.Generator) -> list:
        """Text dropout: each item (attribute or word) dropped with ``word_dropout``;
        at least one is kept."""
        p = self.config.word_dropout
        if p <= 0 or len(items) < 2:
            return items
        keep = rng.random(len(items)) >= p  # (n_items,)
        if not keep.any():
            keep[int(rng.integers(len(items)))] = True
        return [x for x, k in zip(items, keep) if k]

    def render(
        self, attrs: list[tuple[str, str]], style: str, rng: np.random.Generator, *, dropout: bool = True
    ) -> str:
        """Text of an attribute list in one style: ``caption``, ``tags`` or ``single``.
        With ``dropout``, attributes are first dropped (text dropout at attribute level
        keeps captions grammatical)."""
        if style not in ("caption", "tags", "single"):
            raise ValueError(f"unknown view style {style!r}; choose from ['caption', 'single', 'tags']")
        if dropout and style != "single":
            attrs = self._drop(list(attrs), rng)
        if style == "caption":
            return caption(attrs)
        if style == "tags":
            order = rng.permutation(len(attrs))
            return tag_line([attrs[i] for i in order])
        return attrs[int(rng.integers(len(attrs)))][1].lower()

    # -- public ---------------------------------------------------------------------------
    def sample(self, index: int, rng: np.random.Generator) -> str:
        """One random view of track ``index`` (row of ``export.nodes["Track"]``)."""
        style = ("caption", "tags", "single", "metadata")[int(rng.choice(4, p=self._p))]
        attrs = self.subset(index, rng)
        if style == "metadata" or not attrs:
            return self.metadata(index, rng)
        return self.render(attrs, style, rng)

    def sample_with_negative(self, index: int, rng: np.random.Generator) -> tuple[str, str | None]:
        """A caption/tag view and its attribute-swap negative rendered the same way
        (None when no attribute can be swapped)."""
        positive, negative, _, _ = self.draw_with_negative(index, rng)
        return positive, negative

    def draw_with_negative(
        self, index: int, rng: np.random.Generator
    ) -> tuple[str, str | None, list[tuple[str, str]], list[tuple[str, str]]]:
        """Like :meth:`sample_with_negative`, also returning the attribute lists behind the
        positive and the negative (empty for a metadata sentence / no swap)."""
        attrs = self.subset(index, rng)
        if not attrs:
            return self.metadata(index, rng), None, [], []
        style = "caption" if rng.random() < 0.6 else "tags"
        attrs = self._drop(attrs, rng)
        swapped = self.swap(index, attrs, rng)
        seed = int(rng.integers(2**31))  # same tag order for both
        positive = self.render(attrs, style, np.random.default_rng(seed), dropout=False)
        negative = self.render(swapped, style, np.random.default_rng(seed), dropout=False) if swapped else None
        return positive, negative, attrs, swapped or []

    def swap(
        self, index: int, attrs: list[tuple[str, str]], rng: np.random.Generator
    ) -> list[tuple[str, str]] | None:
        """``attrs`` with one value replaced by another value of the same kind that track
        ``index`` does NOT have; None when no attribute of ``attrs`` has such a value."""
        own = {(k, v.lower()) for k, v in self.facts[index].attributes}
        order = rng.permutation(len(attrs))
        for i in order:
            kind = attrs[i][0]
            choices = [v for v in self.vocab.get(kind, ()) if (kind, v.lower()) not in own]
            if choices:
                out = list(attrs)
                out[i] = (kind, choices[int(rng.integers(len(choices)))])
                return out
        return None
