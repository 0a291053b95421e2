"""Audio tower: a short-chunk CNN on log-mels → L2-normalised joint-space vector.

Input ``(B, n_mels + n_chroma, frames)``: dB log-mels, then chroma rows (one chunk each).

* **Timbre branch** (log-mel rows): a fixed affine rescale (dB/20 + 2, roughly zero-centred
  for music) and an input BatchNorm, then one block per width of ``cnn_channels``: 3x3
  conv → BN → 2x2 max-pool → ReLU; global mean+max pooling over frequency and time.
* **Pitch branch** (chroma rows, when ``n_chroma`` > 0): frames averaged 4 → 1 (~64 ms),
  two 1-D convolutions over time (kernel 5, the second dilated, ~0.9 s receptive field:
  a few notes of melody or a chord change) with BN/ReLU; global mean+max over time. It
  sees what renditions of one work on other instruments share and the CNN cannot resolve
  (semitones below ~1 kHz), which same-work retrieval and key/mode queries need.
* **Dynamics branch** (log-mel rows; ``dynamics_branch``, on in the ``real`` preset): no weights before a
  BatchNorm; the mean and sd over time of 20 MFCCs and the sd of their changes over 1, 2,
  4, ... 32 frames (16-512 ms). How the spectrum moves (attack, vibrato, tremolo, the
  rhythm of the mix) is what a recording's production keeps across its tracks, and what the
  CNN's 3x3 kernels and global pooling lose: on real soundtracks never heard in training,
  ranked among the whole catalog, it took same-album P@10 from 0.225 (below MFCC's 0.296)
  to 0.338, with the skip to 0.433, and 0.449 without a track head (README, "Real
  recordings"). With ``dynamics_modulation`` (on in the ``real`` preset) it also takes each
  chunk's modulation spectrum: how fast the level of each of 8 mel-band groups moves,
  1-17.7 Hz (tremolo, rhythm, the pulse of the mix): same-album P@10 among the catalog
  0.448 against 0.428 without it, over twelve seeds.
  On renders it pulls same-instrument tracks together at the cost of renditions on other
  instruments, so the other presets leave it off.
* **Dynamics skip** (``dynamics_skip`` w > 0, with the branch): each space's vector becomes
  normalise(unit(projection) + w * unit(Q s)), s the branch's standardised statistics and Q
  a fixed orthonormal map to ``dim`` (:func:`fixed_orthonormal`; no weights). Projections
  trained on a dozen albums learn to tell *those* albums apart and place a new one among
  them; the skip keeps the statistics' own geometry, which holds for albums never heard.

The pooled vectors (the *trunk*) → dropout → linear projection → L2 normalisation: the
joint audio↔text space. With ``track_head`` a second linear projection of the same trunk
gives the space of the track↔track objective (graph positives), so same-work pairs on
other instruments need not pull the joint space away from instrument. With the default
widths (16, 32, 64, 128) a 5-s chunk costs ~0.14 GFLOP: 2.8 ms on one core in a batch of
16 with the blocks in channels-last layout, 5.3 ms in NCHW (measured 2026-12-01); the
pitch branch adds ~2 %.

>>> tower = AudioTower(ModelConfig())
>>> tower(torch.zeros(2, 64 + 12, 312)).shape
torch.Size([2, 256])
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from kgjemb.audio.features import Chroma
from kgjemb.audio.mfcc import dct_matrix
from kgjemb.model.config import ModelConfig

__all__ = ["AudioTower", "fixed_orthonormal", "scale_grad"]


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` unchanged in value, its gradient multiplied by ``factor`` (0: detached)."""
    if factor == 1.0:
        return x
    if factor == 0.0:
        return x.detach()
    return factor * x + (1.0 - factor) * x.detach()


class _ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            # max-pool before ReLU: the same values and gradients as ReLU then max-pool (ReLU is
            # monotone), with ReLU and its backward on a quarter of the elements
            nn.MaxPool2d(2, ceil_mode=True),
            nn.ReLU(inplace=True),
        )


class _PitchBranch(nn.Module):
    """Chroma ``(B, n_chroma, frames)`` in dB re the frame's peak → ``(B, 2 * width)``."""

    def __init__(self, n_chroma: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.AvgPool1d(4, ceil_mode=True),
            nn.Conv1d(n_chroma, width, kernel_size=5, padding=2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.Conv1d(width, width, kernel_size=5, padding=4, dilation=2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
        )

    def forward(self, chroma: torch.Tensor) -> torch.Tensor:
        # [floor, 0] dB → [0, 1]; silence/padding (far below the floor) → 0
        floor = Chroma.floor_db
        x = self.net(torch.clamp(chroma, min=floor) / -floor + 1.0)  # (B, width, frames / 4)
        return torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)


class _DynamicsBranch(nn.Module):
    """Log-mels ``(B, n_mels, frames)`` in dB → ``(B, width)``: mean and sd over time of the
    first ``n_mfcc`` MFCCs (orthonormal DCT-II of the log-mel bands, as
    :func:`kgjemb.audio.mfcc.mfcc_stats`) and the sd of their differences over each lag in
    :attr:`LAGS` frames; with ``modulation``, also the chunk's modulation spectrum
    (:meth:`modulation`); all standardised by a BatchNorm (its running statistics: those of
    the training audio). How the spectrum moves (articulation, tremolo, rhythm of the mix) is
    what a recording's production keeps across its tracks and a short-kernel CNN pools away.

    ``blocks``: the width of each kind of statistic, in column order (the MFCC statistics,
    then the modulation spectrum); the skip weighs each kind equally whatever its width."""

    LAGS = (1, 2, 4, 8, 16, 32)
    #: modulation spectrum: mel bands averaged into MOD_GROUPS groups; windows of MOD_WINDOW
    #: frames (1.92 s at 62.5 frames/s) every MOD_HOP; FFT bins MOD_BINS (1.0-17.7 Hz, 0.52 Hz
    #: apart) averaged MOD_POOL at a time
    MOD_GROUPS, MOD_WINDOW, MOD_HOP, MOD_BINS, MOD_POOL = 8, 120, 60, (2, 34), 4

    def __init__(self, n_mels: int, n_mfcc: int, *, modulation: bool = False) -> None:
        super().__init__()
        self.register_buffer("dct", torch.tensor(dct_matrix(n_mfcc, n_mels), dtype=torch.float32), persistent=False)
        self.modulation_on = modulation
        self.blocks = (n_mfcc * (2 + len(self.LAGS)),)
        if modulation:
            lo, hi = self.MOD_BINS
            self.blocks += (self.MOD_GROUPS * (hi - lo) // self.MOD_POOL,)
            self.register_buffer("hann", torch.hann_window(self.MOD_WINDOW, periodic=False), persistent=False)
        self.width = sum(self.blocks)
        self.norm = nn.BatchNorm1d(self.width)

    def forward(self, mel_db: torch.Tensor) -> torch.Tensor:
        c = torch.matmul(self.dct, mel_db)  # (B, n_mfcc, frames)
        parts = [c.mean(dim=2), c.std(dim=2, unbiased=False)]
        frames = c.shape[2]
        for lag in self.LAGS:
            d = c[:, :, lag:] - c[:, :, :-lag] if frames > lag else torch.zeros_like(c[:, :, :1])
            parts.append(d.std(dim=2, unbiased=False))
        if self.modulation_on:
            parts.append(self.modulation(mel_db))
        return self.norm(torch.cat(parts, dim=1))

    def modulation(self, mel_db: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, frames)`` dB → ``(B, MOD_GROUPS * bins / MOD_POOL)``: for each group
        of adjacent mel bands, the magnitude spectrum of its level over time (Hann windows,
        each window's mean removed), 1-17.7 Hz in bins of ~2 Hz, log1p, averaged over the
        windows: how fast each register's loudness moves (tremolo, rhythm, the pulse of the
        mix). A chunk shorter than a window is extended with its last frame."""
        b = mel_db.shape[0]
        bands = F.adaptive_avg_pool1d(mel_db.transpose(1, 2), self.MOD_GROUPS).transpose(1, 2)  # (B, G, frames)
        if bands.shape[2] < self.MOD_WINDOW:
            bands = F.pad(bands, (0, self.MOD_WINDOW - bands.shape[2]), mode="replicate")
        win = bands.unfold(2, self.MOD_WINDOW, self.MOD_HOP)  # (B, G, windows, MOD_WINDOW)
        win = win - win.mean(dim=3, keepdim=True)
        lo, hi = self.MOD_BINS
        mag = torch.fft.rfft(win * self.hann, dim=3).abs()[..., lo:hi]  # (B, G, windows, bins)
        mag = mag.reshape(*mag.shape[:3], -1, self.MOD_POOL).mean(dim=4)  # (B, G, windows, bins / pool)
        return torch.log1p(mag).mean(dim=2).reshape(b, -1)


def fixed_orthonormal(rows: int, cols: int, *, seed: int = 0) -> torch.Tensor:
    """A fixed ``(rows, cols)`` matrix with orthonormal rows (rows <= cols) or columns
    (rows > cols), from a seeded Gaussian's QR: the same on every machine (numpy's PCG64)."""
    g = np.random.default_rng(seed).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))  # a unique Q: positive diagonal of R
    return torch.tensor(q if rows > cols else q.T, dtype=torch.float32)


class AudioTower(nn.Module):
    """Feature chunks ``(B, n_mels + n_chroma, frames)`` → ``(B, dim)`` unit vectors."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_mels, self.n_chroma = cfg.frontend.n_mels, cfg.frontend.n_chroma
        self.input_norm = nn.BatchNorm2d(1)
        widths = (1, *cfg.cnn_channels)
        self.blocks = nn.Sequential(*(_ConvBlock(a, b) for a, b in zip(widths[:-1], widths[1:])))
        # NHWC kernels: the convolutions' outputs follow their weights' layout, and on CPU the
        # blocks ran 1.4-1.7x faster a training step and 2x in inference than in NCHW (max-pool
        # is the slowest NCHW kernel); the values agree to float rounding
        self.blocks.to(memory_format=torch.channels_last)
        self.pitch = _PitchBranch(self.n_chroma, widths[-1]) if self.n_chroma else None
        self.dropout = nn.Dropout(cfg.audio_dropout)
        self.timbre_width = 2 * widths[-1]  # the trunk's first columns: pooled CNN features
        width = self.timbre_width * (2 if self.pitch is not None else 1)
        self.dynamics = (_DynamicsBranch(self.n_mels, cfg.dynamics_mfcc, modulation=cfg.dynamics_modulation)
                         if cfg.dynamics_branch else None)
        if self.dynamics is not None:
            width += self.dynamics.width
        self.proj = nn.Linear(width, cfg.dim)
        self.track_proj = nn.Linear(width, cfg.dim) if cfg.track_head else None
        self.skip_weight = float(cfg.dynamics_skip) if self.dynamics is not None else 0.0
        if self.skip_weight > 0:  # a fixed map: no weights, nothing saved, old models unchanged
            self.register_buffer("skip", fixed_orthonormal(cfg.dim, self.dynamics.width), persistent=False)
            # each kind of statistic weighs the same in the skip, however many columns it has
            # (one kind: a uniform scale, which the normalisation undoes)
            scale = torch.cat([torch.full((w,), w ** -0.5) for w in self.dynamics.blocks])
            self.register_buffer("skip_scale", scale, persistent=False)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Joint-space vectors ``(B, dim)``."""
        h = self.trunk(feats)
        return self._output(self.proj(h), self._skip(h))

    def _skip(self, h: torch.Tensor) -> torch.Tensor | None:
        """``dynamics_skip`` × the unit image of the trunk's dynamics columns under the fixed
        map ``(B, dim)``, or None when off."""
        if self.skip_weight <= 0:
            return None
        stats = h[:, h.shape[1] - self.dynamics.width :]  # the branch's standardised statistics
        return self.skip_weight * F.normalize((stats * self.skip_scale) @ self.skip.T, dim=-1)

    @staticmethod
    def _output(y: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        y = F.normalize(y, dim=-1)
        return y if skip is None else F.normalize(y + skip, dim=-1)

    def forward_spaces(
        self, feats: torch.Tensor, *, track_grad: tuple[float, float] = (1.0, 1.0)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint-space and track-space vectors ``(B, dim)`` each from one trunk pass (the
        track space is the joint one when there is no ``track_head``).

        ``track_grad`` = (timbre, pitch): factors on the gradient that the track space sends
        back into the timbre (log-mel CNN) and pitch (chroma) halves of the trunk (the
        dynamics branch's columns, which only have its BatchNorm to train, go with pitch);
        values are unchanged. (1, 1) default; (0, 1) lets the track↔track objective train the pitch
        branch (what renditions share) but not the timbre features that the joint space
        needs to tell instruments apart. Ignored without a track head."""
        h = self.trunk(feats)  # (B, width)
        skip = self._skip(h)
        joint = self._output(self.proj(h), skip)
        if self.track_proj is None:
            return joint, joint
        if tuple(track_grad) != (1.0, 1.0):
            cut = self.timbre_width
            h = torch.cat([scale_grad(h[:, :cut], track_grad[0]), scale_grad(h[:, cut:], track_grad[1])], dim=1)
        return joint, self._output(self.track_proj(h), skip)

    def trunk(self, feats: torch.Tensor) -> torch.Tensor:
        """Pooled CNN (+ pitch) features after dropout ``(B, width)``."""
        rows = self.n_mels + self.n_chroma
        if feats.dim() != 3 or feats.shape[1] != rows:
            raise ValueError(
                f"expected (batch, {rows}, frames) features ({self.n_mels} log-mel + {self.n_chroma} chroma rows), "
                f"got shape {tuple(feats.shape)}"
            )
        x = (feats[:, : self.n_mels] / 20.0 + 2.0).unsqueeze(1)  # (B, 1, n_mels, frames)
        x = self.blocks(self.input_norm(x))  # (B, C, n_mels / 2^k, frames / 2^k)
        x = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (B, 2C)
        if self.pitch is not None:
            x = torch.cat([x, self.pitch(feats[:, self.n_mels :])], dim=1)  # (B, 4C)
        if self.dynamics is not None:
            x = torch.cat([x, self.dynamics(feats[:, : self.n_mels])], dim=1)
        return self.dropout(x)
