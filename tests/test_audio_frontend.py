"""Audio front end on real audio: decoding, log-mel vs librosa, feature cache, chunking."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kgjemb.audio import AudioDecodeError, FeatureCache, LogMel, chunk_features, load_audio, silence_db
from kgjemb.model.config import FrontendConfig

AUDIO = Path(__file__).resolve().parents[1] / "graph" / "fixtures" / "example" / "audio"


@pytest.fixture(scope="module")
def clips() -> list[Path]:
    paths = sorted(AUDIO.glob("*.flac"))
    if len(paths) < 3:
        raise RuntimeError(f"fixture audio missing under {AUDIO}")
    return paths


@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory, clips) -> Path:
    """A 22.05 kHz stereo wav made from two real clips (left/right differ)."""
    left, sr = sf.read(clips[0], dtype="float32")
    right, _ = sf.read(clips[1], dtype="float32")
    n = min(len(left), len(right))
    path = tmp_path_factory.mktemp("stereo") / "st.wav"
    sf.write(path, np.stack([left[:n], right[:n]], axis=1), sr)
    return path


def test_logmel_matches_librosa(clips):
    import librosa

    cfg = FrontendConfig()
    y = load_audio(clips[0], sample_rate=cfg.sample_rate)
    ours = LogMel(cfg)(y)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(
            y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels,
            fmin=cfg.fmin, fmax=cfg.fmax, power=2.0,
        ),
        ref=1.0, amin=cfg.amin, top_db=None,
    )
    assert ours.shape == ref.shape == (cfg.n_mels, 1 + len(y) // cfg.hop_length)
    loud = ref > ref.max() - 80.0  # the audible range; below it both sit near the floor
    assert np.abs(ours - ref)[loud].max() < 2e-3
    assert np.abs(ours - ref).max() < 5e-3


def test_decode_downmix_resample_and_formats(stereo_wav, tmp_path):
    stereo, sr = sf.read(stereo_wav, dtype="float32")
    y = load_audio(stereo_wav, sample_rate=sr)
    np.testing.assert_allclose(y, stereo.mean(axis=1), atol=1e-6)
    y16 = load_audio(stereo_wav, sample_rate=16000)
    assert abs(len(y16) - round(len(y) * 16000 / sr)) <= 1
    flac = tmp_path / "x.flac"
    sf.write(flac, stereo, sr)
    np.testing.assert_allclose(load_audio(flac, sample_rate=16000), y16, atol=1e-4)  # lossless, 16-bit
    for fmt in ("ogg", "mp3"):
        lossy = tmp_path / f"x.{fmt}"
        sf.write(lossy, stereo, sr)
        z = load_audio(lossy, sample_rate=16000)
        n = min(len(z), len(y16))
        assert abs(len(z) - len(y16)) < 0.1 * 16000
        # mp3 encoders delay the signal; compare energy envelopes, not samples
        env = lambda v: np.sqrt(np.convolve(v[:n] ** 2, np.ones(1600) / 1600, mode="valid"))  # noqa: E731
        assert np.corrcoef(env(z), env(y16))[0, 1] > 0.9, fmt
    assert len(load_audio(stereo_wav, sample_rate=16000, max_seconds=0.5)) == 8000


def test_unreadable_audio_names_the_file(tmp_path):
    with pytest.raises(AudioDecodeError, match="nope.wav"):
        load_audio(tmp_path / "nope.wav")
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioDecodeError, match="bad.flac"):
        load_audio(bad)


def test_feature_cache_hits_and_keys(clips, tmp_path):
    cfg = FrontendConfig()
    cache = FeatureCache(tmp_path / "cache", cfg)
    first = cache.features(clips[0])
    assert (cache.computed, cache.hits) == (1, 0)
    entry = cache.entry_path(clips[0])
    assert entry.is_file() and entry.parent.parent.name == cfg.key()
    again = cache.features(clips[0])
    assert (cache.computed, cache.hits) == (1, 1)
    np.testing.assert_array_equal(first, again)
    # a fresh cache object (another process) reads the same entry without decoding
    other = FeatureCache(tmp_path / "cache", cfg)
    np.testing.assert_array_equal(other.features(clips[0]), first)
    assert (other.computed, other.hits) == (0, 1)
    # a copy under another name has the same content → same entry
    copy = tmp_path / "renamed.flac"
    shutil.copy(clips[0], copy)
    assert cache.entry_path(copy) == entry
    # different content → different entry; different config → different namespace
    assert cache.entry_path(clips[1]) != entry
    cache2 = FeatureCache(tmp_path / "cache", FrontendConfig(n_mels=32))
    assert cache2.features(clips[0]).shape[0] == 32 + 12 and cache2.computed == 1  # 32 mels + chroma
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # atomic writes leave no temp files


def test_cache_detects_edited_file(clips, tmp_path):
    cfg = FrontendConfig()
    path = tmp_path / "edit.flac"
    shutil.copy(clips[0], path)
    cache = FeatureCache(tmp_path / "cache", cfg)
    a = cache.features(path)
    y, sr = sf.read(clips[2], dtype="float32")
    sf.write(path, y, sr)  # same name, new content
    b = cache.features(path)
    assert cache.computed == 2 and not (a.shape == b.shape and np.array_equal(a, b))


def test_chunking_rule():
    cfg = FrontendConfig(chunk_s=1.0, min_last_chunk=0.5)  # 62 frames per chunk at 16k/256
    size = cfg.chunk_frames
    feats = np.arange(64 * (3 * size + size // 2 + 1), dtype=np.float32).reshape(64, -1)
    chunks = chunk_features(feats, cfg)
    assert chunks.shape == (4, 64, size)  # 3 full + a kept partial (> half a chunk)
    np.testing.assert_array_equal(chunks[1], feats[:, size : 2 * size])
    assert np.all(chunks[3][:, size // 2 + 1 :] == silence_db(cfg))
    short_tail = feats[:, : 3 * size + size // 4]
    assert chunk_features(short_tail, cfg).shape[0] == 3  # partial < half → dropped
    only = chunk_features(feats[:, :5], cfg)
    assert only.shape == (1, 64, size) and np.array_equal(only[0, :, :5], feats[:, :5])
    assert chunk_features(np.zeros((64, 0), np.float32), cfg).shape == (1, 64, size)


def test_unwritable_cache_still_returns_features(clips, tmp_path):
    import os

    root = tmp_path / "ro"
    root.mkdir()
    os.chmod(root, 0o500)
    try:
        cache = FeatureCache(root, FrontendConfig())
        if os.access(root, os.W_OK):  # running as root: permissions are not enforced
            cache.directory = tmp_path / "file-not-dir" / "x"
            (tmp_path / "file-not-dir").write_text("a file where a folder should be")
        feats = cache.features(clips[0])
        assert feats.shape[0] == FrontendConfig().n_features and cache.computed == 1
    finally:
        os.chmod(root, 0o700)


def test_chroma_rows_find_the_pitch_class_and_line_up_with_logmels():
    """Chroma rows: a pure A4 (440 Hz) peaks at pitch class A (index 9, C = 0) in every
    sounding frame; the frames align with the log-mel rows; silence is the padding value."""
    from kgjemb.audio import Chroma, Features

    cfg = FrontendConfig()
    t = np.arange(cfg.sample_rate * 2) / cfg.sample_rate
    y = np.concatenate([0.3 * np.sin(2 * np.pi * 440.0 * t), np.zeros(cfg.sample_rate)]).astype(np.float32)
    chroma = Chroma(cfg)(y)
    assert chroma.shape == (12, 1 + len(y) // cfg.hop_length)
    sounding = slice(10, int(1.8 * cfg.sample_rate / cfg.hop_length))
    assert (chroma[:, sounding].argmax(axis=0) == 9).all()
    assert chroma[:, sounding].max() == 0.0 and chroma[:, sounding].min() >= -30.0
    assert (chroma[:, -20:] == silence_db(cfg)).all()  # digital silence, like padding
    feats = Features(cfg)(y)
    assert feats.shape == (cfg.n_features, chroma.shape[1]) == (cfg.n_mels + 12, chroma.shape[1])
    np.testing.assert_array_equal(feats[: cfg.n_mels], LogMel(cfg)(y))
    np.testing.assert_array_equal(feats[cfg.n_mels :], chroma)
    # a fifth higher (E5, 659.26 Hz) moves the peak to pitch class E (index 4)
    e5 = (0.3 * np.sin(2 * np.pi * 659.26 * t)).astype(np.float32)
    assert (Chroma(cfg)(e5)[:, sounding].argmax(axis=0) == 4).all()


def test_no_chroma_keeps_the_log_mel_cache_namespace():
    """Models saved before chroma existed (n_chroma=0) keep their feature-cache entries."""
    import dataclasses
    import hashlib
    import json

    off = FrontendConfig(n_chroma=0)
    legacy = {k: v for k, v in dataclasses.asdict(off).items() if k not in ("n_chroma", "chroma_n_fft")}
    assert off.key() == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]
    assert FrontendConfig().key() != off.key() and off.n_features == off.n_mels
    with pytest.raises(ValueError, match="n_chroma"):
        FrontendConfig(n_chroma=-1)
