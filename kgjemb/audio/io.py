"""Decode audio files to mono float32 at a target sample rate.

soundfile reads wav/flac/ogg (and mp3 with libsndfile >= 1.1); anything it cannot read
falls back to librosa (audioread/ffmpeg). Stereo is downmixed by averaging channels;
resampling uses ``librosa.resample`` (soxr_hq), which is deterministic.

>>> y = load_audio("clip.wav", sample_rate=16000)  # doctest: +SKIP
>>> y.dtype, y.ndim
(dtype('float32'), 1)
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from kgjemb.errors import KgjembError

__all__ = ["AUDIO_SUFFIXES", "AudioDecodeError", "audio_files", "load_audio"]

#: file endings :func:`audio_files` collects (what :func:`load_audio` decodes)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3")

logger = logging.getLogger(__name__)


class AudioDecodeError(KgjembError):
    """An audio file is missing or cannot be decoded; the message names the file."""


def load_audio(
    path: str | os.PathLike, *, sample_rate: int = 16000, max_seconds: float | None = None
) -> np.ndarray:
    """Read ``path`` → mono float32 waveform at ``sample_rate`` (1-D, may be empty).

    ``max_seconds`` keeps only the first seconds (read lazily where the format allows).
    Raises :class:`AudioDecodeError` naming the file when it is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"audio file not found: {path}")
    try:
        y, sr = _read_soundfile(path, max_seconds)
    except Exception as sf_err:  # noqa: BLE001 - any soundfile failure → try librosa
        try:
            y, sr = _read_librosa(path, max_seconds)
        except Exception as err:  # noqa: BLE001
            raise AudioDecodeError(f"cannot decode audio {path}: {err}") from sf_err
    if y.ndim == 2:
        y = y.mean(axis=1)  # (frames, channels) → (frames,)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if sr != sample_rate and y.size:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
        y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise AudioDecodeError(f"audio {path} decodes to non-finite samples")
    return y


def audio_files(folder: str | os.PathLike) -> list[Path]:
    """Audio files (``AUDIO_SUFFIXES``, any case) under ``folder``, sorted, recursively.

    Only files that really lie under ``folder`` are listed: symlinked folders are not
    followed and a symlinked file whose target lies outside is skipped (with a warning).
    Raises :class:`KgjembError` naming the folder when it is missing, not a folder, or
    holds no audio file.
    """
    root = Path(folder)
    if not root.exists():
        raise KgjembError(f"audio folder {root} does not exist")
    if not root.is_dir():
        raise KgjembError(f"{root} is not a folder (give a folder of audio files or a catalog folder)")
    real_root = root.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            if not path.resolve().is_relative_to(real_root):
                logger.warning("skipping %s: it links outside %s", path, root)
                continue
            found.append(path)
    if not found:
        raise KgjembError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {root}")
    return found


def _read_soundfile(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        frames = -1 if max_seconds is None else int(max_seconds * f.samplerate)
        y = f.read(frames=frames, dtype="float32", always_2d=True)  # (frames, channels)
        return y, f.samplerate


def _read_librosa(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    import warnings

    import librosa

    with warnings.catch_warnings():  # "PySoundFile failed": we know, that is why we are here
        warnings.simplefilter("ignore")
        y, sr = librosa.load(str(path), sr=None, mono=True, duration=max_seconds)
    return y, int(sr)
