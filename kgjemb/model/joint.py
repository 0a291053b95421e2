"""KGJointModel: audio, text and entity towers in one joint space (the JointModel protocol).

Inference (numpy in/out, L2-normalised float32): :meth:`embed_audio`, :meth:`embed_text`,
:meth:`embed_entities`. Training (differentiable torch): :meth:`encode_audio_features`
(joint space), :meth:`encode_audio_spaces` (joint + the track↔track head's space),
:meth:`encode_text`, :meth:`graph_inputs` + :meth:`encode_entities`, and ``logit_scale``
(a learnable temperature the InfoNCE loss may use). A model directory holds
``config.json`` (ModelConfig + encoder package/version), ``model.pt`` (state_dict without
the frozen text encoder) and optionally ``metrics.json`` (written by the trainer).

>>> m = KGJointModel(ModelConfig())  # untrained, deterministic per seed  # doctest: +SKIP
>>> m.embed_text(["melancholic piano"]).shape  # doctest: +SKIP
(1, 256)
>>> m.save(".kgjemb/model"); m2 = load_model(".kgjemb/model")  # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from kgjemb.atomic import atomic_dir
from kgjemb.model.files import CONFIG_FILE, WEIGHTS_FILE, read_model_dir, sha256_file
from kgjemb.audio.cache import FeatureCache
from kgjemb.audio.features import chunk_features
from kgjemb.device import default_device as device_default
from kgjemb.errors import BundleError
from kgjemb.model.audio_tower import AudioTower
from kgjemb.model.config import ModelConfig
from kgjemb.model.entity_tower import EntityTower, build_graph, node_texts
from kgjemb.model.text_tower import TextTower, TextVectorStore, encoder_version
from kgjemb.paths import cache_dir as home_cache

__all__ = ["GraphInputs", "KGJointModel", "load_model", "default_device"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: the audio spaces :meth:`KGJointModel.embed_audio` can return
AUDIO_SPACES = ("joint", "track")
#: most chunks sent through the audio CNN in one forward pass (bounds peak memory)
MAX_CHUNKS_PER_FORWARD = 64


def default_device() -> torch.device:
    """The process default (``--device``; else CUDA when available, else CPU): see :mod:`kgjemb.device`."""
    return torch.device(device_default())


@dataclass
class GraphInputs:
    """What the entity tower needs for one graph: HeteroData (with reverse edges) + inputs."""

    data: object  # torch_geometric.data.HeteroData
    x_dict: dict[str, torch.Tensor]
    dim: int

    def with_track_audio(self, track_vectors: torch.Tensor) -> "GraphInputs":
        """The same graph with the tracks' audio part of the input replaced by
        ``track_vectors`` ``(n_track, dim)`` (autograd kept): for training steps."""
        x = dict(self.x_dict)
        old = x["Track"]
        if track_vectors.shape != (old.shape[0], self.dim):
            raise ValueError(f"track_vectors must be ({old.shape[0]}, {self.dim}), got {tuple(track_vectors.shape)}")
        x["Track"] = torch.cat([track_vectors.to(old.device), old[:, self.dim :]], dim=1)
        return GraphInputs(data=self.data, x_dict=x, dim=self.dim)


class KGJointModel(nn.Module):
    """The joint audio-text-entity model. See the module docstring for the surface.

    ``cache_dir``: where audio features are cached (None: ``<home>/cache/audio`` via
    ``kgjemb.paths.cache_dir()``; ``False``: no disk cache); encoder outputs of graph node
    names persist in its sibling ``text/`` folder. ``device``: default CUDA if
    available. ``seed`` makes an untrained model reproducible.
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        *,
        cache_dir: str | os.PathLike | bool | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.dim = self.config.dim
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            self.audio = AudioTower(self.config)
            self.text = TextTower(self.config)
            self.entity = EntityTower(self.config)
        self.logit_scale = nn.Parameter(torch.tensor(float(self.config.init_logit_scale)))
        if cache_dir is None:
            cache_dir = home_cache() / "audio"
        self.features = FeatureCache(None if cache_dir is False else cache_dir, self.config.frontend)
        # node-name encoder outputs persist next to the audio features: <cache>/text
        self.text_store = None if cache_dir is False else TextVectorStore(Path(cache_dir).parent / "text", self.config)
        self._checksum: str | None = None
        self.to(torch.device(device) if device is not None else default_device())
        self.eval()

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    # ---- differentiable (training) surface -------------------------------------------
    def encode_audio_features(self, logmel: torch.Tensor) -> torch.Tensor:
        """Feature chunks ``(B, n_features, chunk_frames)`` → ``(B, dim)`` unit vectors."""
        return self.audio(logmel.to(self.device))

    def encode_audio_spaces(
        self, logmel: torch.Tensor, *, track_grad: tuple[float, float] = (1.0, 1.0)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature chunks → ``(joint, track)``, each ``(B, dim)`` unit vectors: the joint
        audio↔text space and the track↔track head's space (the joint one when the model has
        no ``track_head``). ``track_grad``: (timbre, pitch) factors on the gradient the
        track space sends into the audio trunk (:meth:`AudioTower.forward_spaces`)."""
        return self.audio.forward_spaces(logmel.to(self.device), track_grad=track_grad)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Strings → ``(B, dim)`` unit vectors (grad through the projection head)."""
        return self.text(texts)

    def graph_inputs(
        self, export, track_vectors: np.ndarray | torch.Tensor | None = None, *, progress: bool = False
    ) -> GraphInputs:
        """Build the entity tower's inputs for ``export``. ``track_vectors`` ``(n_track, dim)``
        are the tracks' audio embeddings (None: zeros); a tensor keeps its autograd graph."""
        texts = node_texts(export)
        n_track = len(texts["Track"])
        if track_vectors is None:
            audio = torch.zeros(n_track, self.dim, device=self.device)
        else:
            audio = torch.as_tensor(track_vectors, dtype=torch.float32).to(self.device)
            if audio.shape != (n_track, self.dim):
                raise ValueError(
                    f"track_vectors must be ({n_track}, {self.dim}) for this export, got {tuple(audio.shape)}"
                )
        if not self.config.track_title_feature:
            texts.pop("Track")
        self._persisted_text(texts, progress)
        x = {label: self.text.encode_raw(strings, progress=progress) for label, strings in texts.items()}  # (n, 384)
        x["Track"] = torch.cat([audio, x["Track"]], dim=1) if "Track" in x else audio  # (n_track, dim [+ 384])
        return GraphInputs(data=build_graph(export).to(self.device), x_dict=x, dim=self.dim)

    def _persisted_text(self, texts: dict[str, list[str]], progress: bool = False) -> None:
        """Fill the text cache from disk with node names encoded in earlier runs, encode
        the rest now, and store those for the next run (frozen encoder + disk cache only).
        A cache that cannot be written (read-only home) only costs speed: logged, not raised."""
        if self.text_store is None or self.text.finetuning:
            return
        self.text_store.load_into(self.text)
        new = sorted({t for strings in texts.values() for t in strings} - self.text_store.known)
        if new:
            vectors = self.text.encode_raw(new, progress=progress)  # (n_new, 384)
            try:
                self.text_store.save(new, vectors)
            except OSError as err:
                logger.warning("cannot store text vectors under %s: %s", self.text_store.directory, err)

    def encode_entities(self, inputs: GraphInputs) -> dict[str, torch.Tensor]:
        """Differentiable entity forward → ``{label: (n_label, dim)}``."""
        return self.entity(inputs.data, inputs.x_dict)

    def chunk_batch(self, paths: Sequence[str | os.PathLike]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of ``paths`` as chunks: ``(n_chunks, n_features, chunk_frames)`` and the
        file index of each chunk ``(n_chunks,)``. Features come from the disk cache."""
        chunks, owner = [], []
        if not len(paths):
            fe = self.config.frontend
            return torch.zeros(0, fe.n_features, fe.chunk_frames), torch.zeros(0, dtype=torch.long)
        for i, path in enumerate(paths):
            c = chunk_features(self.features.features(path), self.config.frontend)  # (k, mels, frames)
            chunks.append(c)
            owner.append(np.full(len(c), i, dtype=np.int64))
        return torch.from_numpy(np.concatenate(chunks)), torch.from_numpy(np.concatenate(owner))

    # ---- JointModel protocol ----------------------------------------------------------
    @torch.no_grad()
    def embed_audio(
        self,
        paths: Sequence[str | os.PathLike],
        *,
        batch_size: int = 16,
        progress: bool = False,
        space: str = "joint",
    ) -> np.ndarray:
        """Audio files → ``(n, dim)``: mean of chunk embeddings, then L2-normalised.
        Uses eval-mode statistics whatever the current mode, so results never depend on
        batch composition. Raises AudioDecodeError naming an unreadable file.
        ``space``: ``joint`` (default; what text and entity vectors are compared with) or
        ``track`` (the track↔track head: renditions and same-artist tracks close)."""
        return self.embed_audio_spaces(paths, batch_size=batch_size, progress=progress, spaces=(space,))[space]

    @torch.no_grad()
    def embed_audio_spaces(
        self,
        paths: Sequence[str | os.PathLike],
        *,
        batch_size: int = 16,
        progress: bool = False,
        spaces: Sequence[str] = AUDIO_SPACES,
    ) -> dict[str, np.ndarray]:
        """:meth:`embed_audio` in several ``spaces`` from one pass over the audio:
        ``{space: (n, dim)}`` (default: joint and track; the track head must exist)."""
        paths = list(paths)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        for space in spaces:
            if space not in AUDIO_SPACES:
                raise ValueError(f"unknown space {space!r}; choose from {list(AUDIO_SPACES)}")
            if space == "track" and self.audio.track_proj is None:
                raise ValueError("this model has no track head (trained with track_head=false); use space='joint'")
        picks = [AUDIO_SPACES.index(space) for space in spaces]
        out = {space: np.zeros((len(paths), self.dim), dtype=np.float32) for space in spaces}
        was_training = self.audio.training
        self.audio.eval()
        try:
            starts = range(0, len(paths), batch_size)
            if progress:
                starts = tqdm(starts, desc="embed audio", unit="batch")
            for start in starts:
                chunks, owner = self.chunk_batch(paths[start : start + batch_size])
                # bounded forward batches: 16 ten-minute files would be ~2,000 chunks at once
                parts = [
                    self.audio.forward_spaces(chunks[i : i + MAX_CHUNKS_PER_FORWARD].to(self.device))
                    for i in range(0, len(chunks), MAX_CHUNKS_PER_FORWARD)
                ]
                n = int(owner.max()) + 1
                for space, pick in zip(spaces, picks):
                    emb = torch.cat([p[pick] for p in parts])  # (n_chunks, dim)
                    pooled = torch.zeros(n, self.dim, device=self.device).index_add_(0, owner.to(self.device), emb)
                    pooled = nn.functional.normalize(pooled, dim=-1)  # (n_files, dim); mean ∝ sum
                    out[space][start : start + n] = pooled.cpu().numpy()
        finally:
            self.audio.train(was_training)
        return out

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Free text → ``(n, dim)`` float32 unit vectors (encoder outputs cached)."""
        was_training = self.text.training
        self.text.eval()
        try:
            raw = self.text.encode_raw(texts, batch_size=batch_size)  # (n, 384)
            return self.text.project(raw).cpu().numpy().astype(np.float32)
        finally:
            self.text.train(was_training)

    @torch.no_grad()
    def embed_entities(
        self, export, track_vectors: np.ndarray | None, *, progress: bool = False
    ) -> dict[str, np.ndarray]:
        """Entity tower over ``export`` → ``{label: (n_label, dim)}`` aligned with
        ``export.nodes[label]``. ``track_vectors``: audio embeddings of the export's tracks
        (zeros rows for tracks without audio; None = all zeros). Cost is dominated by
        encoding node names once (cached afterwards); ``progress`` shows it."""
        was_training = self.training
        self.eval()
        try:
            out = self.encode_entities(self.graph_inputs(export, track_vectors, progress=progress))
            return {label: v.cpu().numpy().astype(np.float32) for label, v in out.items()}
        finally:
            self.train(was_training)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything worth saving: the state_dict minus the frozen text encoder."""
        keep = self.text.trainable_state_keys(prefix="text.")
        return {
            k: v.detach().cpu()
            for k, v in self.state_dict().items()
            if not k.startswith("text.") or k in keep
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` + ``model.pt`` to ``path`` atomically (temp dir + rename).
        Other files already in ``path`` (e.g. the trainer's metrics.json) are kept."""
        target = Path(path)
        with atomic_dir(target) as tmp:
            if target.is_dir():  # keep what others wrote there (metrics.json, plots/, ...)
                for item in target.iterdir():
                    if item.name in (CONFIG_FILE, WEIGHTS_FILE):
                        continue
                    if item.is_dir():
                        shutil.copytree(item, tmp / item.name)
                    else:
                        shutil.copy2(item, tmp / item.name)
            torch.save(self.trainable_state_dict(), tmp / WEIGHTS_FILE)
            meta = {
                "format_version": FORMAT_VERSION,
                "model": self.config.to_dict(),
                "text_encoder": {"package": self.config.text_encoder, "version": encoder_version(self.config.text_encoder)},
            }
            (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        self._checksum = sha256_file(target / WEIGHTS_FILE)
        logger.info("saved model to %s (sha256 %s)", target, self._checksum[:12])

    def checksum(self) -> str:
        """sha256 of ``model.pt`` as last saved or loaded (saving first if never saved)."""
        if self._checksum is None:
            with tempfile.TemporaryDirectory() as tmp:
                self.save(Path(tmp) / "model")
        return self._checksum


def load_model(
    path: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike | bool | None = None,
) -> KGJointModel:
    """Open a model directory written by :meth:`KGJointModel.save` (eval mode).

    Raises :class:`BundleError` naming the file when ``config.json`` or ``model.pt`` is
    missing, unreadable or does not match the architecture.
    """
    root = Path(path)
    config, weights_path = read_model_dir(root)
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise BundleError(f"model weights unreadable: {weights_path}: {err}") from err
    model = KGJointModel(config, cache_dir=cache_dir, device="cpu")
    expected = set(model.trainable_state_dict())
    if not isinstance(state, dict) or set(state) != expected:
        got = set(state) if isinstance(state, dict) else set()
        raise BundleError(
            f"model weights do not match config in {weights_path}: "
            f"missing {sorted(expected - got)[:5]}, unexpected {sorted(got - expected)[:5]}"
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise BundleError(f"model weights do not match config in {weights_path}: {err}") from err
    model.to(torch.device(device) if device is not None else default_device())
    model.eval()
    model._checksum = sha256_file(weights_path)
    return model

