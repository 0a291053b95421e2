"""Audio front-end configuration (decode → mono → resample → log-mel → chunks).

Lives here rather than in ``kgjemb.model.config`` so that the audio package does not import
the model package; ``kgjemb.model.config`` re-exports it as part of ``ModelConfig``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

__all__ = ["FrontendConfig"]


@dataclass(frozen=True)
class FrontendConfig:
    """Audio front end: decode → mono → resample → log-mel (dB) [+ chroma] → fixed chunks.

    ``n_chroma`` > 0 appends that many pitch-class rows (chroma from a ``chroma_n_fft``
    STFT, same hop, so the frames line up) below the ``n_mels`` log-mel rows; features are
    then ``(n_features, T)`` with ``n_features = n_mels + n_chroma``. Log-mels carry timbre
    but cannot resolve semitones below ~1 kHz at 64 bands; chroma carries the notes, which
    is what two renditions of one work on other instruments share. 0 turns it off (models
    saved before chroma existed load with 0).

    ``chunk_s`` seconds per chunk, hop = chunk (no overlap). A last partial chunk is kept
    (padded with silence) when it is at least ``min_last_chunk`` of a chunk, or when it is
    the only one; otherwise dropped. Padding value is the dB of silence (``10*log10(amin)``).
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    amin: float = 1e-10
    n_chroma: int = 12
    chroma_n_fft: int = 2048
    chunk_s: float = 5.0
    min_last_chunk: float = 0.5
    #: longest audio read per file (seconds from the start); None = whole file
    max_seconds: float | None = 600.0

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_chroma < 0:
            raise ValueError(f"n_chroma must be >= 0 (0 = no chroma rows), got {self.n_chroma}")
        if self.n_chroma and self.chroma_n_fft <= 0:
            raise ValueError(f"chroma_n_fft must be positive, got {self.chroma_n_fft}")
        if self.chunk_s <= 0:
            raise ValueError(f"chunk_s must be positive, got {self.chunk_s}")
        if not 0.0 <= self.min_last_chunk <= 1.0:
            raise ValueError(f"min_last_chunk must be in [0, 1], got {self.min_last_chunk}")

    @property
    def n_features(self) -> int:
        """Rows of the feature matrix: log-mel bands, then chroma bins."""
        return self.n_mels + self.n_chroma

    @property
    def chunk_frames(self) -> int:
        """Log-mel frames per chunk (5 s at 16 kHz / hop 256 → 312)."""
        return max(1, int(round(self.chunk_s * self.sample_rate / self.hop_length)))

    def key(self) -> str:
        """Short hash of everything that changes the features: the feature-cache namespace."""
        fields = dataclasses.asdict(self)
        if not self.n_chroma:  # no chroma rows: the same namespace as before chroma existed
            fields.pop("n_chroma")
            fields.pop("chroma_n_fft")
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
