"""The query-time text model: phrases → joint-space vectors through ONNX Runtime.

Answering a query needs only the text path of a trained model (the bundle holds every
track, entity and audio vector already), so the engine does not build the audio CNN or
the graph network — nor import torch-geometric — to answer one. The whole text path of a
model (MiniLM, mean pooling, projection head, L2 norms) is exported once per model as one
ONNX graph (:meth:`~kgjemb.model.text_tower.TextTower.export_onnx`) and cached under the
home's cache dir::

    <cache>/text-onnx/<encoder>-<version>-<max_length>-<model sha256[:16]>-<int8|fp32>.onnx

Tokenisation uses the encoder package's ``tokenizer.json`` through the ``tokenizers``
library (what ``transformers`` wraps, without importing it). On the CPU the graph is int8
dynamically quantised (about 2.5× faster than float; cosine ≥ 0.99 to the PyTorch tower on
the query suites, pinned by ``tests/test_text_onnx.py``); on CUDA it stays float and runs
on ONNX Runtime's CUDA provider when the installed ``onnxruntime`` has one.

>>> model = load_text_model(".kgjemb/bundle/model")  # doctest: +SKIP
>>> model.embed_text(["melancholic piano"]).shape  # doctest: +SKIP
(1, 256)
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

from kgjemb.model.files import WEIGHTS_FILE, read_model_dir, sha256_file
from kgjemb.device import resolve_device
from kgjemb.errors import BundleError, MissingDependencyError
from kgjemb.model.config import ModelConfig
from kgjemb.model.encoder import cached_encode, check_texts, encoder_path, encoder_version

__all__ = ["OnnxTextEncoder", "TextModel", "load_text_model", "onnx_file"]

logger = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _ort():
    try:
        import onnxruntime
    except ImportError as err:
        raise MissingDependencyError("onnxruntime is missing: pip install onnxruntime") from err
    return onnxruntime


def onnx_file(cache_dir: str | os.PathLike, config: ModelConfig, checksum: str, *, quantized: bool) -> Path:
    """Where the exported text path of the model with ``checksum`` is cached."""
    version = encoder_version(config.text_encoder) or "unknown"
    name = f"{config.text_encoder}-{version}-{config.text_max_length}-{checksum[:16]}-{'int8' if quantized else 'fp32'}.onnx"
    return Path(cache_dir) / "text-onnx" / name


def _pool(workers: int) -> ThreadPoolExecutor:
    """Threads that run texts side by side: one pool per size and process (a forked child
    gets its own; the parent's threads do not exist there)."""
    return _pool_of(workers, os.getpid())


@functools.cache
def _pool_of(workers: int, pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kgjemb-text")


class OnnxTextEncoder:
    """An exported text path: strings → ``(n, dim)`` float32 unit vectors.

    ``threads``: ONNX Runtime intra-op threads (1: fastest for one query on a busy
    machine, and several engine threads then run side by side). ``device``: ``cuda`` uses
    the CUDA execution provider when the installed ``onnxruntime`` has it, else the CPU.
    ``run`` is thread-safe (ONNX Runtime sessions are).

    ``per_text`` (False): run one text at a time. Needed for an int8 graph: dynamic
    quantisation takes each activation's range over the whole batch (padding included), so
    a text batched with a longer one got another vector (up to 7e-3 per component), and a
    query's ranking depended on what else was encoded with it, or before it (the LRU).
    """

    def __init__(self, path: str | os.PathLike, *, encoder_package: str, max_length: int, device: str = "cpu",
                 threads: int = 1, per_text: bool = False, workers: int | None = None) -> None:
        ort = _ort()
        self.path = Path(path)
        self.per_text = per_text
        self.workers = max(1, int(workers if workers is not None else (os.cpu_count() or 1)))
        self.tokenizer = Tokenizer.from_file(str(Path(encoder_path(encoder_package)) / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            else:
                logger.info("onnxruntime has no CUDA provider (pip install onnxruntime-gpu): text encoder on CPU")
        self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        self.dim = int(self.session.get_outputs()[0].shape[1])

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.per_text and len(texts) > 1:
            if self.workers > 1:
                return np.concatenate(list(_pool(self.workers).map(lambda t: self._run([t]), texts)))  # (b, dim)
            return np.concatenate([self._run([t]) for t in texts])  # (b, dim)
        return self._run(texts)

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),  # (b, tokens)
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        return self.session.run(None, feeds)[0].astype(np.float32, copy=False)  # (b, dim)


class TextModel:
    """The query-time surface of a trained model: ``dim``, ``config``, :meth:`embed_text`
    and :meth:`checksum` (the sha256 of its ``model.pt``, as the bundle manifest records
    it). Phrase vectors are kept in an LRU of ``config.text_cache_size`` strings."""

    def __init__(self, config: ModelConfig, encoder: OnnxTextEncoder, checksum: str) -> None:
        self.config = config
        self.dim = config.dim
        self.encoder = encoder
        self._checksum = checksum
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.cache_hits = 0
        if encoder.dim != config.dim:
            raise BundleError(f"{encoder.path}: exported text path has dimension {encoder.dim}, the model {config.dim}")

    def embed_text(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Free text → ``(n, dim)`` float32 unit vectors (cached per string)."""
        texts = check_texts(texts)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        with self._lock:
            missing = sorted({t for t in texts if t not in self._cache}, key=len)  # shortest first: less padding
        # encode outside the lock: concurrent engine threads (serve) encode side by side
        fresh = {}
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            fresh.update(zip(batch, self.encoder(batch)))

        def encode(batch: list[str]) -> list[np.ndarray]:
            todo = [t for t in batch if t not in fresh]  # evicted meanwhile by another thread
            fresh.update(zip(todo, self.encoder(todo)) if todo else ())
            return [fresh[t] for t in batch]

        with self._lock:
            vecs, hits = cached_encode(self._cache, texts, encode, max_size=self.config.text_cache_size,
                                       batch_size=batch_size)
            self.cache_hits += hits
        return np.stack(vecs) if vecs else np.zeros((0, self.dim), dtype=np.float32)  # (n, dim)

    def clear_cache(self) -> None:
        """Forget every cached phrase vector (benchmarks measure cold encodes with it)."""
        with self._lock:
            self._cache.clear()

    def checksum(self) -> str:
        return self._checksum


def load_text_model(
    model_dir: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    device: str | None = None,
    quantized: bool | None = None,
    threads: int = 1,
) -> TextModel:
    """Open the text path of the model in ``model_dir`` on ONNX Runtime, exporting it into
    ``cache_dir`` (None: ``<home>/cache``) on first use (needs torch then; ~5-20 s once per
    model). ``device``: ``cpu``/``cuda``/``auto`` (None: the process default, see
    :mod:`kgjemb.device`). ``quantized``: int8 graph (None: on the CPU yes, on CUDA no).
    An unwritable cache costs an export per process (into a temp dir), not an error.
    Raises :class:`BundleError` naming the file when the model directory is unreadable.
    """
    from kgjemb.paths import cache_dir as home_cache

    root = Path(model_dir)
    config, weights = read_model_dir(root)
    device = resolve_device(device)
    quantized = device == "cpu" if quantized is None else quantized
    checksum = sha256_file(weights)
    path = onnx_file(cache_dir if cache_dir is not None else home_cache(), config, checksum, quantized=quantized)
    if not path.is_file():
        path = _export(root, config, path, quantized=quantized)
    encoder = OnnxTextEncoder(path, encoder_package=config.text_encoder, max_length=config.text_max_length,
                              device=device, threads=threads, per_text=quantized)
    return TextModel(config, encoder, checksum)


def _export(model_dir: Path, config: ModelConfig, path: Path, *, quantized: bool) -> Path:
    """Build the model's PyTorch text tower from ``model.pt`` and export it to ``path``.

    The one place the query path touches torch: once per model and cache. Imported here,
    not at the top, because importing torch and transformers costs a one-shot search 2-5 s
    that every later search of the same model (the export is cached) would pay for nothing.
    """
    import torch

    from kgjemb.model.text_tower import TextTower

    start = time.perf_counter()
    weights = model_dir / WEIGHTS_FILE
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise BundleError(f"model weights unreadable: {weights}: {err}") from err
    tower = TextTower(config)
    text_state = {k[len("text."):]: v for k, v in state.items() if k.startswith("text.")}
    expected = tower.trainable_state_keys()
    if set(text_state) != expected:
        raise BundleError(f"model weights do not match config in {weights}: text keys "
                          f"missing {sorted(expected - set(text_state))[:5]}, unexpected {sorted(set(text_state) - expected)[:5]}")
    tower.load_state_dict(text_state, strict=False)
    tower.eval()
    try:
        tower.export_onnx(path, quantize=quantized)
    except OSError as err:
        fallback = Path(tempfile.mkdtemp(prefix="kgjemb-text-onnx-")) / path.name
        logger.warning("cannot write %s (%s); exporting to %s for this process", path, err, fallback)
        path = tower.export_onnx(fallback, quantize=quantized)
    logger.info("text path of %s exported in %.1fs", model_dir, time.perf_counter() - start)
    return path

