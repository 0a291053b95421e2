"""MIDI bytes → libfluidsynth (FluidR3 GM) → 22.05 kHz mono FLAC excerpt, with a content cache.

Rendering runs in-process (:class:`kgjemb.demo.fluid.FluidSynth`): each process loads the
soundfont once and keeps it for every excerpt it renders (the ``fluidsynth`` command line
spent ~0.5 s of every ~0.8 s excerpt loading it). The synth runs with reverb and chorus
off so that the same MIDI always gives the same samples; its stereo output is averaged to
mono, cut to exactly ``seconds``, given a 10 ms fade-in and a 0.5 s fade-out,
peak-normalised to -1 dBFS and written as 16-bit FLAC. The cache key is sha256(MIDI
bytes, seconds, sample rate, soundfont size, :data:`RENDERER_VERSION`), so re-runs render
only what changed. :func:`render_midi_cli` renders through the command line instead: the
reference that tests and ``scripts/bench_demo_render.py`` compare the in-process path with.

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

from kgjemb.atomic import atomic_path
from kgjemb.demo.fluid import FluidSynth, load_library
from kgjemb.errors import MissingDependencyError

__all__ = ["RENDERER_VERSION", "RenderConfig", "check_dependencies", "release_synths", "render_cached", "render_midi",
           "render_midi_cli"]

logger = logging.getLogger(__name__)

#: Bump when the rendering pipeline changes in a way that changes the audio.
RENDERER_VERSION = "fs-mono-v2"  # v2: libfluidsynth in-process, no 16-bit WAV in between
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
    load_library()  # names libfluidsynth3 when missing
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


_SYNTHS: dict[tuple[str, int, float], FluidSynth] = {}  # this process's loaded soundfonts


def _synth(cfg: RenderConfig) -> FluidSynth:
    key = (str(cfg.soundfont), cfg.sample_rate, cfg.gain)
    if key not in _SYNTHS:
        logger.debug("loading soundfont %s into libfluidsynth (pid %d)", cfg.soundfont, os.getpid())
        _SYNTHS[key] = FluidSynth(soundfont=cfg.soundfont, sample_rate=cfg.sample_rate, gain=cfg.gain)
    return _SYNTHS[key]


def release_synths() -> None:
    """Free the soundfonts this process loaded for :func:`render_midi` (~150 MB each)."""
    while _SYNTHS:
        _SYNTHS.popitem()[1].close()


def render_midi(midi: bytes, seconds: float, cfg: RenderConfig = RenderConfig()) -> np.ndarray:
    """Render MIDI bytes to a mono float32 excerpt of exactly ``seconds`` (zero-padded),
    in-process; the soundfont stays loaded for the next call (see :func:`release_synths`)."""
    n = round(seconds * cfg.sample_rate)
    stereo = _synth(cfg).render(midi, max_frames=n)  # (frames, 2)
    return _finish(stereo, n, cfg)


def render_midi_cli(midi: bytes, seconds: float, cfg: RenderConfig = RenderConfig()) -> np.ndarray:
    """:func:`render_midi` through the ``fluidsynth`` command line (a process and a
    soundfont load per call; its WAV is 16-bit): the reference for tests and benchmarks."""
    import soundfile

    if shutil.which("fluidsynth") is None:
        raise MissingDependencyError("the fluidsynth command line is missing: sudo apt-get install fluidsynth")
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
    return _finish(audio, n, cfg)


def _finish(stereo: np.ndarray, n: int, cfg: RenderConfig) -> np.ndarray:
    """(frames, channels) float32 → mono of exactly ``n`` samples, faded, peak-normalised."""
    mono = stereo.mean(axis=1)[:n]  # (frames,)
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
        with atomic_path(cached) as tmp:
            soundfile.write(tmp, audio, cfg.sample_rate, subtype="PCM_16", format="FLAC")
        rendered = True
    with atomic_path(dest) as tmp:
        shutil.copyfile(cached, tmp)
    return rendered
