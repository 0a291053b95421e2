"""Training configuration: one frozen dataclass, presets as JSON files, overrides on top.

Resolution order (later wins): dataclass defaults → preset (``kgjemb/train/presets/
NAME.json``; default ``default``) → ``--config FILE`` → command-line flags. Nested
sections (``model``, ``views``, ``positives``, ``augment``) merge key by key.

>>> cfg = load_config(preset="ci", overrides={"epochs": 1})
>>> cfg.epochs, cfg.model.dim
(1, 64)
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kgjemb.audio.augment import AugmentConfig
from kgjemb.model.config import ModelConfig
from kgjemb.train.losses import LOSSES, MINING
from kgjemb.train.positives import META_PATHS, PositiveConfig
from kgjemb.train.split import SPLITS
from kgjemb.train.views import ViewConfig

__all__ = ["SSL_POSITIVES", "SSL_SPACES", "TrainConfig", "load_config", "list_presets"]

#: audio spaces the self-supervised term can live in
SSL_SPACES = ("track", "joint")
#: what an unlabelled recording's positive is: another crop of it, or a crop of a recording
#: in the same folder (a release, in a library laid out as Artist/Album/track files)
SSL_POSITIVES = ("recording", "folder")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (the model's own shape is in ``model``).

    Defaults target the ~1,500-track demo catalog on 2 CPU cores in a few minutes.

    epochs / batch_size / steps_per_epoch (None: n_train // batch_size);
    lr, weight_decay (AdamW); crop_s_min..crop_s_max: random excerpt length per step,
    cropped from cached log-mels; val_fraction: held-out tracks, split by ``split`` ("work",
    default, or "album": whole albums held out).
    Loss weights: ``w_text`` (InfoNCE audio↔text, learnable temperature), ``w_swap``
    (attribute-swap captions as extra text negatives), ``w_track`` (track↔track graph
    positives; ``track_loss``: a registered loss, ``info_nce`` (default) or ``triplet``
    with ``triplet_mining`` random / all / hard / semi-hard (default) and
    ``triplet_margin``), ``graded_negatives`` (a candidate
    is a negative unless linked to the anchor by a path as strong as the positive's, so
    same-artist pairs end up closer than similar-artist ones), ``w_hard`` (graph-aware hard
    negatives in the track loss), ``w_entity`` (entity vectors ↔ audio of their tracks;
    ``entity_moves_audio``: whether that term also trains the audio tower (False: entity
    vectors follow the audio, which only the text and track terms shape — measured to keep
    text→audio instrument retrieval from paying for artist/album alignment)).
    ``align_versions``: crop a same-work positive at its anchor's position (renditions share
    score and tempo). ``use_graph_positives=False`` is the text-only ablation: no track↔track, hard-negative
    or entity terms. ``metadata_views`` (None: on with graph positives): 15 % of the text
    views are metadata sentences naming the artist and album ("a chorale by Bach"); the
    default preset turns them off (they cost text→audio instrument retrieval on the demo
    catalog, issue 11), ``text-only-meta`` on. ``views_per_track``: size of the pre-encoded pool of text views per
    track (text-encoder outputs are computed once). ``moco_queue``: size of a queue of
    past audio keys used as extra negatives for text→audio (0 = off); the keys come from
    a momentum encoder, an EMA copy of the audio tower with rate ``moco_momentum``
    (MoCo; 0 = the online tower's own vectors). ``model.track_head`` (default on) gives the
    track↔track term its own projection; the ablation turns it off (nothing would train it).
    ``track_timbre_grad`` / ``track_pitch_grad`` (1.0 each): factors on the gradient that
    the track head's space (track↔track term, hard negatives, and ssl in that space) sends
    into the timbre (log-mel CNN) and pitch (chroma) halves of the shared audio trunk; 0
    detaches that half, so renditions on other instruments cannot teach the timbre
    features to ignore instruments while the head still learns from them.
    ``text_pairs_as_negatives`` (True): in the text↔audio term, whether an anchor's graph
    positive and its hard negatives, which share the batch with it, count as negatives of
    the anchor's text views. They share most attributes with the anchor (same artist,
    work or attribute set), so as negatives they drill the text term on the few attributes
    that differ (key, tempo) instead of what a random batch teaches (instrument); False
    leaves them out of the anchor's softmax, as a random batch (the text-only ablation) has none.

    ``augment`` (:class:`~kgjemb.audio.augment.AugmentConfig`, off by default): reverb, EQ,
    compression, noise, gain, pitch shift, time stretch and codec band limiting applied on
    the fly to training crops (``augment.enabled``), each with its own probability and
    range; the draws come from a generator derived from (seed, step, view).
    ``ssl`` (False): the self-supervised audio↔audio term (weight ``w_ssl``,
    :mod:`kgjemb.train.ssl`): two crops of one recording at independent positions are
    positives (the second always augmented, the first when ``augment.enabled``); the rest of
    the batch (less graph-linked training tracks) and, with ``moco_queue``, a queue of
    momentum-encoded keys of recent views are negatives (InfoNCE at the fixed temperature
    ``ssl_temperature``), in the ``ssl_space`` (``track``: the track head when the model has
    one, else the joint space; or ``joint``). Its recordings: the step's training tracks
    (``ssl_labelled``) and ``ssl_unlabelled_per_step`` recordings of the unlabelled audio
    handed to :func:`~kgjemb.train.trainer.train` (``kgjemb train --unlabelled DIR``).
    ``ssl_positives``: ``recording`` (default; the second view of an unlabelled recording is
    another crop of it) or ``folder`` (a crop of a recording drawn from the same folder, and
    recordings of one folder are not each other's negatives: a music library keeps a
    release in a folder of its own, so the folder says "same album" without any label).
    ``ssl_augment`` (True): whether the term's second views (and both views of an unlabelled
    recording) are augmented; False compares the recordings as they are, for a term meant
    to learn what one production keeps rather than invariance to it (``--preset real``).
    """

    epochs: int = 8
    batch_size: int = 64
    steps_per_epoch: int | None = None
    lr: float = 2e-3
    weight_decay: float = 1e-4
    crop_s_min: float = 3.0
    crop_s_max: float = 5.0
    val_fraction: float = 0.2
    split: str = "work"  # held-out split: "work" or "album" (kgjemb.train.split.SPLITS)
    seed: int = 0
    use_graph_positives: bool = True
    metadata_views: bool | None = None
    w_text: float = 1.0
    w_swap: float = 0.5
    w_track: float = 1.0
    w_hard: float = 0.5
    track_timbre_grad: float = 1.0
    track_pitch_grad: float = 1.0
    text_pairs_as_negatives: bool = True
    w_entity: float = 0.5
    entity_moves_audio: bool = False
    track_loss: str = "info_nce"
    triplet_mining: str = "semi-hard"
    align_versions: bool = True
    graded_negatives: bool = True
    triplet_margin: float = 0.2
    views_per_track: int = 8
    moco_queue: int = 0
    moco_momentum: float = 0.99
    eval_k: int = 10
    eval_every: int = 1
    entity_every: int = 1
    num_threads: int = 1
    device: str = "auto"
    scatter_kind: str = "ensemble"
    ssl: bool = False
    w_ssl: float = 0.5
    ssl_temperature: float = 0.1
    ssl_space: str = "track"
    ssl_labelled: bool = True
    ssl_unlabelled_per_step: int = 16
    ssl_positives: str = "recording"
    ssl_augment: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    views: ViewConfig = field(default_factory=ViewConfig)
    positives: PositiveConfig = field(default_factory=PositiveConfig)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "views_per_track", "eval_k", "eval_every", "num_threads", "entity_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1 or null, got {self.steps_per_epoch}")
        if not 0 < self.crop_s_min <= self.crop_s_max:
            raise ValueError(f"need 0 < crop_s_min <= crop_s_max, got {self.crop_s_min}, {self.crop_s_max}")
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; choose from {sorted(SPLITS)}")
        if self.track_loss not in LOSSES:
            raise ValueError(f"unknown track_loss {self.track_loss!r}; choose from {sorted(LOSSES)}")
        if self.triplet_mining not in MINING:
            raise ValueError(f"unknown triplet_mining {self.triplet_mining!r}; choose from {list(MINING)}")
        if self.triplet_margin < 0:
            raise ValueError(f"triplet_margin must be >= 0, got {self.triplet_margin}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"unknown device {self.device!r}; choose from ['auto', 'cpu', 'cuda']")
        if self.moco_queue < 0:
            raise ValueError(f"moco_queue must be >= 0, got {self.moco_queue}")
        if not 0.0 <= self.moco_momentum < 1.0:
            raise ValueError(f"moco_momentum must be in [0, 1), got {self.moco_momentum}")
        if self.w_ssl < 0 or not 0 < self.ssl_temperature <= 1:
            raise ValueError(f"need w_ssl >= 0 and 0 < ssl_temperature <= 1, got {self.w_ssl}, {self.ssl_temperature}")
        if self.ssl_space not in SSL_SPACES:
            raise ValueError(f"unknown ssl_space {self.ssl_space!r}; choose from {list(SSL_SPACES)}")
        if self.ssl_positives not in SSL_POSITIVES:
            raise ValueError(f"unknown ssl_positives {self.ssl_positives!r}; choose from {list(SSL_POSITIVES)}")
        if self.ssl_unlabelled_per_step < 0:
            raise ValueError(f"ssl_unlabelled_per_step must be >= 0, got {self.ssl_unlabelled_per_step}")
        for name in ("track_timbre_grad", "track_pitch_grad"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 for in-batch negatives, got {self.batch_size}")
        if not self.use_graph_positives and self.model.track_head:
            # the ablation has no track↔track objective, so no head for it
            object.__setattr__(self, "model", dataclasses.replace(self.model, track_head=False))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error listing the valid ones."""
        return _merge(cls(), data)


def _merge(cfg: TrainConfig, data: dict[str, Any]) -> TrainConfig:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown training config keys {unknown}; valid: {sorted(known)}")
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key == "model":
            base = cfg.model.to_dict()
            front = {**base["frontend"], **(value.get("frontend") or {})}
            changes["model"] = ModelConfig.from_dict({**base, **value, "frontend": front})
        elif key == "views":
            changes["views"] = _sub(ViewConfig, cfg.views, value)
        elif key == "augment":
            changes["augment"] = _sub(AugmentConfig, cfg.augment, value)
        elif key == "positives":
            base = dataclasses.asdict(cfg.positives)
            if "path_weights" in value:  # a given mapping replaces the weights; missing paths: 0
                base["path_weights"] = {p: 0.0 for p in META_PATHS}
            merged = {**base, **value, "path_weights": {**base["path_weights"], **value.get("path_weights", {})}}
            if merged.get("artist_roles") is not None:
                merged["artist_roles"] = tuple(merged["artist_roles"])
            changes["positives"] = _sub(PositiveConfig, PositiveConfig(), merged)
        else:
            changes[key] = value
    return dataclasses.replace(cfg, **changes)


def _sub(cls, base, value: dict):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid: {sorted(known)}")
    return dataclasses.replace(base, **value)


def _preset_dir():
    return resources.files("kgjemb.train") / "presets"


def list_presets() -> list[str]:
    """Names of the packaged presets."""
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".json"))


def load_config(
    *,
    preset: str | None = "default",
    file: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Defaults → preset → JSON ``file`` → ``overrides`` (None values in overrides are
    ignored, so unset CLI flags change nothing)."""
    cfg = TrainConfig()
    if preset:
        names = list_presets()
        if preset not in names:
            raise ValueError(f"unknown preset {preset!r}; choose from {names}")
        cfg = _merge(cfg, json.loads((_preset_dir() / f"{preset}.json").read_text()))
    if file is not None:
        path = Path(file)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read training config {path}: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"training config {path} must hold a JSON object")
        cfg = _merge(cfg, data)
    if overrides:
        cfg = _merge(cfg, {k: v for k, v in overrides.items() if v is not None})
    return cfg
