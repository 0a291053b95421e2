"""Generate a query suite from a catalog graph, reproducibly (seeded).

Queries are drawn uniformly at random (no hand-picking) from every valid combination of
the held-out tracks' facts, for every kind of :data:`~kgjemb.eval.suite.KINDS`; a
combination is valid when its rule makes at least ``min_relevant`` held-out tracks
relevant. Templates per kind:

* ``entity``: "songs like <track title>" (same work if the work has another version, else
  same artist) and "music like <artist>" (the artist's tracks);
* ``attribute-tag``: an attribute value ("violin"); ``attribute-sentence``: two or three
  attributes in a sentence template;
* ``unseen-word``: a synonym of an attribute (:data:`SYNONYMS`) whose descriptive words are
  absent from every training text (:func:`training_vocabulary`; checked for every query);
* ``compositional``: "like <artist> with <attribute>"; ``negation``: "<a> but not <b>";
  ``filter``: "<a> by <artist>" / "<a> not by <artist>".

>>> rows = generate_suite(export, held_out, GenerateConfig(n_queries=300, seed=0))  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from kgjemb.eval.rules import GraphFacts, Rule, resolve
from kgjemb.eval.suite import KINDS, SuiteRow
from kgjemb.graph.base import GraphExport
from kgjemb.train.views import TextViews, caption, tag_line, track_facts

__all__ = ["GenerateConfig", "generate_suite", "training_vocabulary", "descriptive_words", "SYNONYMS", "unseen_ok"]

logger = logging.getLogger(__name__)

#: attribute id → paraphrases a listener might use instead of the catalog's word.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "tempo:slow": ("unhurried", "leisurely", "languid", "plodding"),
    "tempo:fast": ("brisk", "speedy", "quick", "nimble"),
    "tempo:moderate": ("mid-paced", "walking pace"),
    "mode:minor": ("sombre", "mournful", "melancholy", "sad"),
    "mode:major": ("bright", "cheerful", "sunny", "joyful"),
    "vocal:instrumental": ("wordless", "without singers", "no singing"),
    "vocal:vocal": ("sung", "with singers", "singing"),
    "ensemble:choir": ("chorus", "singers", "voices"),
    "instrument:piano": ("pianoforte", "keyboard"),
    "instrument:cello": ("violoncello",),
    "instrument:violin": ("violins",),
    "texture:polyphonic": ("contrapuntal", "counterpoint", "interweaving lines"),
    "texture:monophonic": ("single melodic line", "unison melody"),
    "texture:homophonic": ("block chords", "hymn-like chords"),
    "form:chorale": ("hymn", "hymn tune"),
    "form:mass movement": ("liturgical", "sacred service music"),
    "genre:folk": ("celtic", "pub session"),
    "genre:irish traditional": ("celtic", "pub session tune"),
    "ensemble:solo": ("unaccompanied", "one player"),
    "era:baroque": ("eighteenth-century",),
    "era:renaissance": ("sixteenth-century",),
    "instrument:organ": ("pipe instrument in a church",),
    "ensemble:string orchestra": ("bowed ensemble",),
    "genre:classical": ("art music",),
}

_STOP = frozenset(
    "a an the and or of on in with without by for to from some something music piece pieces song songs track tracks "
    "tune tunes i want like but not no please play me that is are it its".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


def descriptive_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` minus stop words ("music", "with", ...)."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def training_vocabulary(export: GraphExport, *, draws: int = 30, seed: int = 0) -> set[str]:
    """Every word the trainer's text views can contain: all node names (attributes,
    artists, albums, tracks), full captions and tag lines of every track, and ``draws``
    seeded samples of every view style per track (templates, metadata sentences)."""
    words: set[str] = set()
    for label, col in (("Attribute", "name"), ("Attribute", "id"), ("Artist", "name"), ("Artist", "aliases"),
                       ("Album", "title"), ("Track", "title")):
        frame = export.nodes[label]
        if col in frame:
            for v in frame[col].dropna().astype(str):
                words |= set(_WORD.findall(v.lower()))
    facts = track_facts(export)
    views = TextViews(facts)
    rng = np.random.default_rng(seed)
    for i, f in enumerate(facts):
        if f.attributes:
            words |= set(_WORD.findall(caption(list(f.attributes)).lower()))
            words |= set(_WORD.findall(tag_line(list(f.attributes)).lower()))
        for _ in range(draws):
            words |= set(_WORD.findall(views.sample(i, rng).lower()))
            words |= set(_WORD.findall(views.metadata(i, rng).lower()))
    return words


def unseen_ok(query: str, vocabulary: set[str]) -> bool:
    """True when no descriptive word of ``query`` occurs in ``vocabulary``."""
    words = descriptive_words(query)
    return bool(words) and not (words & vocabulary)


@dataclass(frozen=True)
class GenerateConfig:
    """``n_queries`` (300) spread evenly over :data:`KINDS` (kinds with fewer valid
    combinations give what they have); ``seed`` (0); ``min_relevant`` (1) held-out tracks
    a query must have; ``prefix`` of ids ("gen")."""

    n_queries: int = 300
    seed: int = 0
    min_relevant: int = 1
    prefix: str = "gen"


def _value(facts_export: GraphExport) -> dict[str, str]:
    a = facts_export.nodes["Attribute"]
    return {i: str(n) for i, n in zip(a["id"], a["name"])}


def generate_suite(export: GraphExport, held_out: Sequence[str], config: GenerateConfig = GenerateConfig()) -> list[SuiteRow]:
    """Rows over every kind, valid on the held-out tracks (see module docstring)."""
    facts = GraphFacts.from_export(export)
    pool = [t for t in held_out if t in facts.work]
    if not pool:
        raise ValueError("no held-out track of the split is in the graph")
    rng = np.random.default_rng(config.seed)
    name = _value(export)
    kind_of = {i: i.split(":", 1)[0] for i in name}
    titles = dict(zip(export.nodes["Track"]["id"], export.nodes["Track"]["title"]))
    artist_name = dict(zip(export.nodes["Artist"]["id"], export.nodes["Artist"]["name"]))
    sound = {"tempo", "mood", "texture", "vocal", "era", "genre", "form", "ensemble", "instrument", "key", "mode", "meter", "region"}
    pool_attrs = sorted({a for t in pool for a in facts.attrs[t] if kind_of.get(a) in sound})
    pool_artists = sorted({a for t in pool for a in facts.artists[t]})
    vocab = training_vocabulary(export)

    def v(a: str) -> str:
        return name[a].lower()

    cands: dict[str, list[tuple[str, Rule]]] = {k: [] for k in KINDS}
    for t in pool:
        same_work = [u for u in pool if facts.work[u] == facts.work[t] and u != t]
        rule = Rule(same_work_as=t) if same_work else Rule(same_artist_as=t)
        cands["entity"].append((f"songs like {titles[t]}", rule))
    for ar in pool_artists:
        cands["entity"].append((f"music like {artist_name[ar]}", Rule(artist=ar)))
    for a in pool_attrs:
        cands["attribute-tag"].append((v(a), Rule(attributes=[a])))
    templates = ("{a} music with {b}", "a {a} piece featuring {b}", "something {a} and {b}", "{a}, {b} and {c}")
    for t in pool:
        mine = sorted(a for a in facts.attrs[t] if kind_of.get(a) in sound)
        for i in range(len(mine)):
            for j in range(len(mine)):
                if i != j and kind_of[mine[i]] != kind_of[mine[j]]:
                    tpl = templates[(i + j) % 3]
                    cands["attribute-sentence"].append((tpl.format(a=v(mine[i]), b=v(mine[j])), Rule(attributes=[mine[i], mine[j]])))
        if len(mine) >= 3:
            pick = [mine[x] for x in np.sort(rng.choice(len(mine), 3, replace=False))]
            if len({kind_of[p] for p in pick}) == 3:
                cands["attribute-sentence"].append((templates[3].format(a=v(pick[0]), b=v(pick[1]), c=v(pick[2])), Rule(attributes=pick)))
    for a, syns in SYNONYMS.items():
        if a not in facts.attribute_ids:
            continue
        for s in syns:
            for tpl in ("{s}", "{s} music", "something {s}"):
                q = tpl.format(s=s)
                if unseen_ok(q, vocab):
                    cands["unseen-word"].append((q, Rule(attributes=[a])))
    for ar in pool_artists:
        for a in pool_attrs:
            cands["compositional"].append((f"like {artist_name[ar]} with {v(a)}", Rule(artist=ar, attributes=[a])))
            cands["filter"].append((f"{v(a)} by {artist_name[ar]}", Rule(artist=ar, attributes=[a])))
            cands["filter"].append((f"{v(a)} not by {artist_name[ar]}", Rule(exclude_artist=ar, attributes=[a])))
    for a in pool_attrs:
        for b in pool_attrs:
            if a != b and kind_of[a] != kind_of[b]:
                cands["negation"].append((f"{v(a)} but not {v(b)}", Rule(attributes=[a], not_attributes=[b])))
                cands["negation"].append((f"{v(a)}, no {v(b)}", Rule(attributes=[a], not_attributes=[b])))

    valid: dict[str, list[tuple[str, Rule]]] = {}
    for kind in KINDS:
        ok, texts = [], set()
        for q, rule in cands[kind]:
            if q in texts:
                continue
            rel = resolve(rule, facts, pool=pool)
            if len(rel) < config.min_relevant:
                continue
            base = None if rule.exclude_artist else len(resolve(Rule(attributes=rule.attributes), facts, pool=pool)) if rule.attributes else None
            if kind in ("negation", "filter") and base is not None and len(rel) == base:
                continue  # the negation / filter must remove something, or it tests nothing
            texts.add(q)
            ok.append((q, rule))
        valid[kind] = ok
    quota = _allocate({k: len(valid[k]) for k in KINDS}, config.n_queries)
    rows: list[SuiteRow] = []
    for kind in KINDS:
        items = valid[kind]
        order = np.sort(rng.permutation(len(items))[: quota[kind]])
        for n, i in enumerate(order, start=1):
            q, rule = items[i]
            rows.append(SuiteRow(id=f"{config.prefix}-{kind}-{n:03d}", query=q, kind=kind, relevant=rule))
        logger.info("generated %d %s queries (%d valid of %d candidates)", quota[kind], kind, len(items), len(cands[kind]))
    return rows


def _allocate(available: dict[str, int], total: int) -> dict[str, int]:
    """Split ``total`` as evenly as possible over kinds, capped by what each has."""
    quota = {k: 0 for k in available}
    left = total
    open_kinds = [k for k in available if available[k] > 0]
    while left > 0 and open_kinds:
        share = max(left // len(open_kinds), 1)
        for k in list(open_kinds):
            take = min(share, available[k] - quota[k], left)
            quota[k] += take
            left -= take
            if quota[k] >= available[k]:
                open_kinds.remove(k)
            if left <= 0:
                break
    return quota
