"""Text tower: all-MiniLM-L6-v2 (loaded offline from its PyPI package) + projection head.

Sentence vector = mean of the encoder's token states over the attention mask, then L2
normalised (exactly what sentence-transformers does for this model); the projection MLP
(384 → ``text_hidden`` → ``dim``, GELU) maps it into the joint space, L2 normalised.

Frozen encoder (default, ``text_finetune_layers=0``): its 384-d outputs are kept in an
in-memory LRU keyed by the string, so repeated captions cost nothing, and its weights are
never saved with ours (:meth:`trainable_state_keys`). With ``text_finetune_layers=N`` the
top N transformer layers train and are saved; the cache is then bypassed while training
and cleared whenever the mode changes.

>>> tower = TextTower(ModelConfig())  # doctest: +SKIP
>>> tower(["melancholic piano", "no vocals"]).shape  # doctest: +SKIP
torch.Size([2, 256])
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from kgjemb.atomic import atomic_open, atomic_path
from kgjemb.model.config import ModelConfig
from kgjemb.model.encoder import cached_encode, check_texts, encoder_path, encoder_version

__all__ = ["TextTower", "TextVectorStore", "cached_encode", "encoder_path", "encoder_version", "mean_pool"]

logger = logging.getLogger(__name__)

ENCODER_DIM = 384


@contextlib.contextmanager
def _quiet_root():
    """Drop records below ERROR logged on the root logger itself (not those of named
    loggers, which only pass through its handlers) for the ``with`` block."""
    root = logging.getLogger()
    drop = _ErrorsOnly()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


class TextTower(nn.Module):
    """Strings → ``(n, dim)`` unit vectors; :meth:`encode_raw` gives the 384-d encoder output."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        tokenizer, encoder, cache = _shared_encoder(cfg.text_encoder, cfg.text_max_length)
        if cfg.text_finetune_layers:
            # a private, partly trainable copy; its outputs change as it trains: private cache
            encoder, cache = copy.deepcopy(encoder), OrderedDict()
            layers = encoder.encoder.layer
            for layer in layers[len(layers) - cfg.text_finetune_layers :]:
                layer.requires_grad_(True)
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.encoder.eval()
        self.proj = nn.Sequential(
            nn.Linear(ENCODER_DIM, cfg.text_hidden), nn.GELU(), nn.Linear(cfg.text_hidden, cfg.dim)
        )
        self._cache: OrderedDict[str, torch.Tensor] = cache
        self.cache_hits = 0
        # loaded fine-tuned layers make earlier outputs stale
        self.register_load_state_dict_post_hook(lambda module, _keys: module._cache.clear() if module.finetuning else None)

    @property
    def finetuning(self) -> bool:
        return self.cfg.text_finetune_layers > 0

    def train(self, mode: bool = True) -> "TextTower":
        super().train(mode)
        if not self.finetuning:
            self.encoder.eval()  # frozen encoder: no dropout, outputs stay cacheable
        else:
            self._cache.clear()
        return self

    def trainable_state_keys(self, prefix: str = "") -> set[str]:
        """state_dict keys worth saving: everything except the frozen encoder weights."""
        keep = {prefix + "proj." + k for k in self.proj.state_dict()}
        for name, param in self.encoder.named_parameters():
            if param.requires_grad:
                keep.add(prefix + "encoder." + name)
        return keep

    def encode_raw(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> torch.Tensor:
        """Encoder sentence vectors ``(n, 384)``, L2-normalised. Cached when not training
        the encoder; differentiable w.r.t. fine-tuned layers while training. ``progress``
        shows a bar over the strings not yet cached."""
        texts = check_texts(texts)
        device = self.proj[0].weight.device
        use_cache = not (self.finetuning and self.training)
        if not use_cache:
            return self._encode(texts, device)
        with _lock_for(self._cache):  # shared cache; the HTTP service calls from threads
            return self._encode_cached(texts, device, batch_size, progress)

    def _encode_cached(self, texts: list[str], device, batch_size: int, progress: bool) -> torch.Tensor:
        with torch.no_grad():
            vecs, hits = cached_encode(
                self._cache, texts, lambda batch: self._encode(batch, device).cpu(),  # (b, 384)
                max_size=self.cfg.text_cache_size, batch_size=batch_size, progress=progress,
            )
        self.cache_hits += hits
        out = torch.stack(vecs) if texts else torch.zeros(0, ENCODER_DIM)
        return out.to(device)  # (n, 384)

    def _encode(self, texts: list[str], device: torch.device) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, ENCODER_DIM, device=device)
        enc_device = next(self.encoder.parameters()).device  # shared: may sit elsewhere
        tok = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.cfg.text_max_length, return_tensors="pt"
        ).to(enc_device)
        states = self.encoder(**tok).last_hidden_state  # (b, tokens, 384)
        return mean_pool(states, tok["attention_mask"]).to(device)

    def project(self, raw: torch.Tensor) -> torch.Tensor:
        """``(n, 384)`` encoder vectors → ``(n, dim)`` joint-space unit vectors."""
        return F.normalize(self.proj(raw), dim=-1)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self.project(self.encode_raw(texts))  # (n, dim)

    def export_onnx(self, path: str | os.PathLike, *, quantize: bool = False) -> Path:
        """Write the whole query-time text path (encoder, mean pooling, projection head, both
        L2 normalisations) as one ONNX graph: inputs ``input_ids``, ``attention_mask``,
        ``token_type_ids`` ``(batch, tokens)`` int64, output ``vectors`` ``(batch, dim)``.

        ``quantize``: int8 dynamic quantisation of the MatMul weights, per channel (about
        2.5× faster on a CPU; cosine to the float model ≥ 0.99, pinned by a test). Written
        to a temp file and renamed: readers see the old file or the new one. Needs the
        ``onnx`` package (a dependency). Returns ``path``.
        """
        import warnings

        path = Path(path)
        module = _OnnxTextPath(self).cpu().eval()
        dummy = self.tokenizer(["a b", "c"], padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with atomic_path(path) as out:
            fp32 = out.with_name(out.name + ".fp32.onnx") if quantize else out  # the quantizer's input
            try:
                with warnings.catch_warnings(), torch.no_grad():
                    warnings.simplefilter("ignore")  # the TorchScript exporter's tracer chatter
                    torch.onnx.export(
                        module, tuple(dummy[n] for n in names), str(fp32), dynamo=False, opset_version=17,
                        input_names=names, output_names=["vectors"],
                        dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "vectors": {0: "batch"}},
                    )
                if quantize:
                    from onnxruntime.quantization import QuantType, quantize_dynamic

                    with _quiet_root():  # the quantizer logs ~70 INFO lines and a WARNING of advice on the root logger
                        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True)
            finally:
                if quantize:
                    fp32.unlink(missing_ok=True)
        logger.info("exported the text tower to %s (%s)", path, "int8" if quantize else "fp32")
        return path


class _OnnxTextPath(nn.Module):
    """Token ids → joint-space unit vectors: what :meth:`TextTower.export_onnx` traces.
    A deep copy, so exporting never moves or changes the (shared) encoder."""

    def __init__(self, tower: TextTower) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(tower.encoder)
        self.proj = copy.deepcopy(tower.proj)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # (b, tokens, 384)
        return F.normalize(self.proj(mean_pool(states, attention_mask)), dim=-1)  # (b, dim)


def mean_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence vectors as sentence-transformers makes them for MiniLM: the mean of the token
    states ``(b, tokens, 384)`` over the mask ``(b, tokens)``, L2-normalised → ``(b, 384)``."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (b, tokens, 1)
    pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (b, 384)
    return F.normalize(pooled, dim=-1)


class TextVectorStore:
    """Encoder outputs persisted on disk, for the frozen encoder: immutable ``.npz`` shards
    (strings + ``(n, 384)`` float32) under ``<directory>/<package>-<version>-<max_length>/``,
    each written to a temp file and renamed. Used for graph node names, so rebuilding an
    index over the same graph does not re-encode tens of thousands of names.

    >>> store = TextVectorStore(".kgjemb/cache/text", ModelConfig())  # doctest: +SKIP
    >>> store.load_into(tower)  # fills the in-memory cache  # doctest: +SKIP
    """

    def __init__(self, directory: str | os.PathLike, cfg: ModelConfig) -> None:
        version = encoder_version(cfg.text_encoder) or "unknown"
        self.directory = Path(directory) / f"{cfg.text_encoder}-{version}-{cfg.text_max_length}"
        self._loaded: set[str] = set()
        #: strings already stored on disk (read or written by this object)
        self.known: set[str] = set()

    def load_into(self, tower: "TextTower") -> int:
        """Add every stored vector the tower's cache lacks; returns how many were added."""
        if tower.finetuning or not self.directory.is_dir():
            return 0
        added = 0
        with _lock_for(tower._cache):
            for shard in sorted(self.directory.glob("*.npz")):
                if shard.name in self._loaded:
                    continue
                try:
                    with np.load(shard, allow_pickle=False) as data:
                        texts, vecs = data["texts"].tolist(), torch.from_numpy(data["vectors"])
                except (OSError, ValueError, KeyError) as err:
                    logger.warning("text vector shard %s unreadable (%s); ignored", shard, err)
                    continue
                if vecs.shape != (len(texts), ENCODER_DIM):
                    logger.warning("text vector shard %s has shape %s; ignored", shard, tuple(vecs.shape))
                    continue
                self.known.update(texts)
                for text, vec in zip(texts, vecs):
                    if text not in tower._cache:
                        tower._cache[text] = vec
                        added += 1
                self._loaded.add(shard.name)
        return added

    def save(self, texts: Sequence[str], vectors: torch.Tensor) -> None:
        """Write one shard with ``texts`` and their ``(n, 384)`` encoder vectors."""
        import hashlib

        if not len(texts):
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:24] + ".npz"
        with atomic_open(self.directory / name, "wb") as f:
            np.savez(f, texts=np.array(list(texts), dtype=str), vectors=vectors.detach().cpu().numpy().astype(np.float32))
        self._loaded.add(name)
        self.known.update(texts)


_SHARED: dict[tuple[str, int], tuple] = {}
_LOAD_LOCK = threading.Lock()
_CACHE_LOCKS: dict[int, threading.RLock] = {}


def _lock_for(cache: OrderedDict) -> threading.RLock:
    """One lock per cache object, kept outside the module so towers stay deep-copyable."""
    with _LOAD_LOCK:
        return _CACHE_LOCKS.setdefault(id(cache), threading.RLock())


def _shared_encoder(package: str, max_length: int):
    """(tokenizer, frozen encoder, output cache), loaded once per process and shared by
    every tower with a frozen encoder: a second model (e.g. ``load_model`` next to a
    trained one) neither reloads MiniLM nor re-encodes strings it has already seen."""
    key = (package, max_length)
    with _LOAD_LOCK:
        return _SHARED[key] if key in _SHARED else _load_shared(key)


def _load_shared(key: tuple[str, int]):
    package, _ = key
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = encoder_path(package)
    hf_logging.disable_progress_bar()
    # a local model directory, never the hub (no process-wide HF_HUB_OFFLINE needed)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True)
    encoder.requires_grad_(False)
    encoder.eval()
    _SHARED[key] = (tokenizer, encoder, OrderedDict())
    logger.info("loaded text encoder %s from %s", package, path)
    return _SHARED[key]
