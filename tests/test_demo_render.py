"""The in-process renderer (libfluidsynth through ctypes) against the fluidsynth command line."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

from kgjemb.demo.fluid import FluidSynth, load_library
from kgjemb.demo.midi import excerpt_midi
from kgjemb.demo.render import RenderConfig, render_cached, render_midi, render_midi_cli
from kgjemb.errors import MissingDependencyError

SECONDS = 4.0
#: a violin melody over a cello line, 120 bpm: 8 quarter notes fill the 4 s excerpt
DUET = excerpt_midi([[(float(i), 1.0, 67 + (i % 5), 90) for i in range(8)],
                     [(2.0 * i, 2.0, 43 + 2 * i, 80) for i in range(4)]],
                    programs=(40, 42), bpm=120.0, excerpt_ql=8.0)
#: a different piece (organ chords), rendered between two renders of DUET
CHORDS = excerpt_midi([[(0.0, 4.0, 60, 100)], [(0.0, 4.0, 64, 100)], [(0.0, 4.0, 67, 100)]],
                      programs=(19, 19, 19), bpm=90.0, excerpt_ql=6.0)


def _log_mel(x: np.ndarray, sr: int, n_fft: int = 1024, hop: int = 256, n_mels: int = 64) -> np.ndarray:
    import librosa

    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)  # (frames, n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, bins)
    mel = power @ librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).T  # (frames, n_mels)
    return np.log(mel + 1e-10)


def test_in_process_render_is_the_excerpt_the_command_line_renders():
    cfg = RenderConfig()
    audio = render_midi(DUET, SECONDS, cfg)
    assert audio.dtype == np.float32 and audio.shape == (round(SECONDS * cfg.sample_rate),)
    assert np.isfinite(audio).all()
    assert float(np.sqrt(np.mean(audio ** 2))) > 0.05  # not silent
    assert float(np.abs(audio).max()) == pytest.approx(cfg.peak, abs=1e-6)  # peak-normalised
    reference = render_midi_cli(DUET, SECONDS, cfg)
    # the command line's 16-bit WAV is the only difference: at most a few steps of 2**-15
    assert float(np.abs(audio - reference).max()) < 1e-3
    a, b = _log_mel(audio, cfg.sample_rate).ravel(), _log_mel(reference, cfg.sample_rate).ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.99


def test_render_does_not_depend_on_what_was_rendered_before():
    cfg = RenderConfig()
    first = render_midi(DUET, SECONDS, cfg)
    other = render_midi(CHORDS, SECONDS, cfg)
    again = render_midi(DUET, SECONDS, cfg)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other, atol=1e-2)
    with FluidSynth(soundfont=cfg.soundfont, sample_rate=cfg.sample_rate, gain=cfg.gain) as fresh:
        frames = fresh.render(DUET, max_frames=round(SECONDS * cfg.sample_rate))  # (frames, 2)
    assert frames.dtype == np.float32 and frames.shape[1] == 2 and frames.shape[0] % 64 == 0
    assert np.array_equal(render_midi(DUET, SECONDS, cfg), again)


def test_cached_render_writes_flac_once(tmp_path):
    cfg = RenderConfig()
    dest, cache = tmp_path / "out" / "duet.flac", tmp_path / "cache"
    assert render_cached(DUET, SECONDS, dest, cache, cfg) is True
    assert render_cached(DUET, SECONDS, tmp_path / "again.flac", cache, cfg) is False  # from the cache
    audio, sr = soundfile.read(dest, dtype="float32")
    assert sr == cfg.sample_rate and audio.shape == (round(SECONDS * sr),)
    assert float(np.abs(audio - render_midi(DUET, SECONDS, cfg)).max()) < 1e-4  # 16-bit FLAC of the same samples
    assert (tmp_path / "again.flac").read_bytes() == dest.read_bytes()


def test_closed_synth_and_bad_arguments_are_clear_errors():
    cfg = RenderConfig()
    synth = FluidSynth(soundfont=cfg.soundfont, sample_rate=cfg.sample_rate, gain=cfg.gain)
    with pytest.raises(ValueError, match="max_frames"):
        synth.render(DUET, max_frames=0)
    synth.close()
    synth.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        synth.render(DUET, max_frames=100)
    with pytest.raises(MissingDependencyError, match="libfluidsynth3"):
        load_library(names=("libfluidsynth-not-here.so.9",))
