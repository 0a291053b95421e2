"""MIDI bytes → fluidsynth (FluidR3 GM) → 22.05 kHz mono FLAC excerpt, with a content cache.

fluidsynth runs with reverb and chorus off (``-R 0 -C 0``) so that the same MIDI always
gives the same samples; its stereo output is averaged to mono, cut to exactly
``seconds``, given a 10 ms fade-in and a 0.5 s fade-out, peak-normalised to -1 dBFS and
written as 16-bit FLAC. The cache key is sha256(MIDI bytes, seconds, sample rate,
soundfont size, :data:`RENDERER_VERSION`), so re-runs render only what changed.

>>> check_dependencies()  # raises MissingDependencyError naming the Debian package
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgjemb.errors import MissingDependencyError

__all__ = ["RENDERER_VERSION", "RenderConfig", "check_dependencies", "render_cached", "render_midi"]

logger = logging.getLogger(__name__)

#: Bump when the rendering pipeline changes in a way that changes the audio.
RENDERER_VERSION = "fs-mono-v1"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


@dataclass(frozen=True)
class RenderConfig:
    """Rendering settings. Defaults: 22050 Hz, FluidR3 GM, gain 0.6, FLAC output."""

    sample_rate: int = 22050
    soundfont: Path = SOUNDFONT
    gain: float = 0.6
    fade_in_s: float = 0.01
    fade_out_s: float = 0.5
    peak: float = 0.89  # -1 dBFS


def check_dependencies(cfg: RenderConfig = RenderConfig()) -> None:
    """Raise :class:`MissingDependencyError` naming the Debian package that is missing."""
    if shutil.which("fluidsynth") is None:
        raise MissingDependencyError(
            "the demo catalog needs the fluidsynth renderer: sudo apt-get install fluidsynth "
            "(Debian package 'fluidsynth'; `make sysdeps` does it)"
        )
    if not Path(cfg.soundfont).is_file():
        raise MissingDependencyError(
            f"soundfont {cfg.soundfont} not found: sudo apt-get install fluid-soundfont-gm "
            "(Debian package 'fluid-soundfont-gm'; `make sysdeps` does it)"
        )


def cache_key(midi: bytes, seconds: float, cfg: RenderConfig) -> str:
    h = hashlib.sha256()
    h.update(midi)
    sf_size = Path(cfg.soundfont).stat().st_size if Path(cfg.soundfont).exists() else 0
    h.update(f"|{seconds:.3f}|{cfg.sample_rate}|{sf_size}|{cfg.gain}|{cfg.fade_in_s}|{cfg.fade_out_s}|"
             f"{cfg.peak}|{RENDERER_VERSION}".encode())
    return h.hexdigest()


def render_midi(midi: bytes, seconds: float, cfg: RenderConfig = RenderConfig()) -> np.ndarray:
    """Render MIDI bytes to a mono float32 excerpt of exactly ``seconds`` (zero-padded)."""
    import soundfile

    n = round(seconds * cfg.sample_rate)
    with tempfile.TemporaryDirectory(prefix="kgjemb-render-") as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        mid.write_bytes(midi)
        cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(cfg.gain), "-F", str(wav),
               "-r", str(cfg.sample_rate), "-o", "synth.cpu-cores=1", str(cfg.soundfont), str(mid)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not wav.exists():
            raise RuntimeError(f"fluidsynth failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
        audio, sr = soundfile.read(str(wav), dtype="float32", always_2d=True)  # (frames, channels)
    if sr != cfg.sample_rate:
        raise RuntimeError(f"fluidsynth wrote {sr} Hz, expected {cfg.sample_rate}")
    mono = audio.mean(axis=1)[:n]  # (frames,)
    if len(mono) < n:
        mono = np.pad(mono, (0, n - len(mono)))
    fi, fo = round(cfg.fade_in_s * cfg.sample_rate), round(cfg.fade_out_s * cfg.sample_rate)
    mono[:fi] *= np.linspace(0.0, 1.0, fi, dtype=np.float32)
    mono[n - fo:] *= np.linspace(1.0, 0.0, fo, dtype=np.float32)
    peak = float(np.abs(mono).max())
    if peak > 0:
        mono *= np.float32(cfg.peak / peak)
    return mono.astype(np.float32)


def render_cached(midi: bytes, seconds: float, dest: Path, cache_dir: Path, cfg: RenderConfig = RenderConfig()) -> bool:
    """Write the FLAC excerpt of ``midi`` to ``dest``, reusing ``cache_dir/<key>.flac``.
    Returns True when it had to render (cache miss)."""
    import soundfile

    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / f"{cache_key(midi, seconds, cfg)}.flac"
    rendered = False
    if not cached.exists():
        audio = render_midi(midi, seconds, cfg)
        fd, tmp = tempfile.mkstemp(suffix=".flac", dir=cache_dir)
        os.close(fd)
        soundfile.write(tmp, audio, cfg.sample_rate, subtype="PCM_16", format="FLAC")
        os.replace(tmp, cached)
        rendered = True
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_dest = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(cached, tmp_dest)
    os.replace(tmp_dest, dest)
    return rendered
