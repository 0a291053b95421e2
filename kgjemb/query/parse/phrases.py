"""Graph names as token sequences: the gazetteer's exact matcher, as one dict look-up.

What a spaCy ``PhraseMatcher`` on ``LOWER`` does (and the ``SpanRuler`` the parser used to
build around it), without its start-up cost: the ruler tokenised every name through a
second blank pipeline and added each one to the matcher (≈1 s for 3,500 names, at every
start), while matching a query is a handful of look-ups either way. A :class:`PhraseTable`
maps the lower-cased tokens of every surface form to the nodes it names; :meth:`spans`
finds every (possibly overlapping) occurrence in a doc, as spans labelled with the node's
label and carrying ``Label:id`` as ``span.id_``, sorted and de-duplicated as the ruler's.

The table depends only on the names and on the tokenizer, so it is cached on disk
(:meth:`PhraseTable.load_or_build`) under a key that hashes both: a one-shot search loads
it instead of tokenising every name again.

>>> table = PhraseTable.build(gazetteer.patterns(), nlp.tokenizer)  # doctest: +SKIP
>>> [s.id_ for s in table.spans(nlp("songs like jesu, meine freude"))]  # doctest: +SKIP
['Track:t_jesu']
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

from kgjemb.atomic import atomic_open
from kgjemb.query.parse.nlp import Span

__all__ = ["PhraseTable"]

logger = logging.getLogger(__name__)

#: bump when the cached file's layout or the tokens it stores change meaning
TABLE_FORMAT = 1


class PhraseTable:
    """Lower-cased token sequences → the ``(label, "Label:id")`` nodes they name.

    Immutable after construction; safe to share between threads.
    """

    def __init__(self, entries: Mapping[tuple[str, ...], Iterable[tuple[str, str]]]) -> None:
        self.entries: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {
            tuple(k): tuple(dict.fromkeys((str(lb), str(key)) for lb, key in v)) for k, v in entries.items() if k
        }
        self.max_len = max(map(len, self.entries), default=0)
        self.firsts = frozenset(k[0] for k in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def build(cls, patterns: Iterable[dict], tokenize: Callable[[str], Iterable]) -> "PhraseTable":
        """From SpanRuler-style phrase patterns (``{"label", "pattern", "id"}``, what
        :meth:`~kgjemb.query.parse.gazetteer.Gazetteer.patterns` gives) and a tokenizer
        (``nlp.tokenizer``: the same one that will tokenise the queries)."""
        entries: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for pattern in patterns:
            tokens = tuple(t.lower_ for t in tokenize(pattern["pattern"]))
            if tokens:
                entries.setdefault(tokens, []).append((pattern["label"], pattern["id"]))
        return cls(entries)

    @classmethod
    def load_or_build(cls, patterns: list[dict], tokenize: Callable[[str], Iterable], *, cache_dir: str | os.PathLike | None,
                      tokenizer_key: str) -> "PhraseTable":
        """:meth:`build`, through a file cache under ``cache_dir/parser/`` keyed by the
        sha256 of the patterns and ``tokenizer_key`` (the spaCy version and the pipeline's
        name and version: what decides how a name is split into tokens). ``cache_dir=None``
        builds without a cache. An unreadable entry is rebuilt; an unwritable cache costs a
        build per process, never an error."""
        if cache_dir is None:
            return cls.build(patterns, tokenize)
        canonical = sorted((p["label"], p["id"], p["pattern"]) for p in patterns)  # order carries no meaning
        digest = hashlib.sha256(json.dumps([TABLE_FORMAT, tokenizer_key, canonical],
                                           ensure_ascii=False).encode("utf-8")).hexdigest()
        path = Path(cache_dir) / "parser" / f"phrases-{digest[:32]}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls({tuple(k.split("\x1f")): [tuple(n) for n in v] for k, v in data["entries"].items()})
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            logger.warning("phrase table cache %s unreadable (%s): rebuilding it", path, err)
        table = cls.build(patterns, tokenize)
        table._save(path)
        return table

    def _save(self, path: Path) -> None:
        data = {"format": TABLE_FORMAT, "entries": {"\x1f".join(k): [list(n) for n in v] for k, v in self.entries.items()}}
        try:
            with atomic_open(path) as f:
                json.dump(data, f, ensure_ascii=False)
        except OSError as err:
            logger.info("phrase table not cached at %s: %s", path, err)

    def spans(self, doc) -> list:
        """Every occurrence of a known name in ``doc`` (a spaCy ``Doc``), overlapping and
        duplicate ones included: one span per (occurrence, node), sorted like spaCy spans."""
        low = [t.lower_ for t in doc]  # (n_tokens,)
        n, found = len(low), []
        for i in range(n):
            if low[i] not in self.firsts:
                continue
            for end in range(i + 1, min(n, i + self.max_len) + 1):
                for label, key in self.entries.get(tuple(low[i:end]), ()):
                    found.append(Span(doc, i, end, label=label, span_id=key))
        return sorted(set(found))
