"""The demo catalog builder: real music21 scores, real fluidsynth audio, real validator."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from kgjemb.catalog.validate import validate_catalog
from kgjemb.demo.arrange import GM_NAMES, arrange
from kgjemb.demo.builder import BuildConfig, build_catalog, read_renditions
from kgjemb.demo.corpus import discover
from kgjemb.demo.midi import excerpt_midi
from kgjemb.demo.render import RenderConfig, check_dependencies
from kgjemb.demo.similar import derived_similar
from kgjemb.demo.sources import resolve_collection
from kgjemb.errors import MissingDependencyError


def _tables(root: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(root / f"{n}.csv", dtype=str, keep_default_na=False)
            for n in ("artists", "albums", "tracks", "track_attributes", "artist_attributes", "relations")}


def _log_spectrum(x: np.ndarray, n_fft: int = 2048) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::n_fft // 2]  # (frames, n_fft)
    mag = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)).mean(axis=0)  # (bins,)
    db = 20 * np.log10(mag + 1e-6)
    return db - db.max()


def test_catalog_validates_and_has_the_promised_shape(ci_catalog):
    catalog, report = validate_catalog(ci_catalog)
    assert report.valid, report
    t = _tables(ci_catalog)
    colls = t["track_attributes"].query("kind == 'collection'")["value"].unique()
    assert len(colls) >= 4
    forms = set(t["track_attributes"].query("kind == 'form'")["value"])
    assert "chorale" in forms and forms & {"reel", "jig", "hornpipe"}
    versions = t["relations"].query("type == 'VERSION_OF'")
    assert len(versions) >= 5
    assert set(t["track_attributes"]["kind"]) >= {"key", "mode", "meter", "tempo", "instrument", "ensemble",
                                                  "form", "era", "texture"}
    # anonymous tunes are credited to their tradition
    trad = t["relations"].query("type == 'BY'")
    assert len(trad) and set(trad["role"]) == {"tradition"}
    assert (ci_catalog / "READY").exists() and (ci_catalog / "meta" / "licences.json").exists()


def test_every_audio_file_decodes_at_22050_with_stated_duration_and_sound(ci_catalog):
    tracks = _tables(ci_catalog)["tracks"]
    assert len(tracks) >= 40
    for row in tracks.itertuples():
        audio, sr = soundfile.read(ci_catalog / row.audio_path, dtype="float32")
        assert sr == 22050 and audio.ndim == 1, row.id
        assert abs(len(audio) / sr - float(row.duration_s)) < 0.05, row.id
        rms = float(np.sqrt(np.mean(audio ** 2)))
        assert rms > 0.01, f"{row.id} is (nearly) silent: rms={rms}"


def test_instrument_and_tempo_attributes_are_the_rendered_ground_truth(ci_catalog):
    attrs = _tables(ci_catalog)["track_attributes"]
    records = {r["track_id"]: r for r in read_renditions(ci_catalog)}
    assert set(records) == set(_tables(ci_catalog)["tracks"]["id"])
    for tid, group in attrs.groupby("track_id"):
        rec = records[tid]
        assert set(group.query("kind == 'instrument'")["value"]) == {GM_NAMES[p] for p in rec["programs"]}, tid
        assert list(group.query("kind == 'tempo'")["value"]) == [rec["tempo_band"]], tid


def test_versions_are_renditions_of_one_work_that_sound_different(ci_catalog):
    rel = _tables(ci_catalog)["relations"].query("type == 'VERSION_OF'")
    records = {r["track_id"]: r for r in read_renditions(ci_catalog)}
    for src, dst in zip(rel["src"], rel["dst"]):
        a, b = records[src], records[dst]
        assert a["work_id"] == b["work_id"] and a["programs"] != b["programs"]
        xa, _ = soundfile.read(ci_catalog / f"audio/{src}.flac", dtype="float32")
        xb, _ = soundfile.read(ci_catalog / f"audio/{dst}.flac", dtype="float32")
        # timbre: mean log spectra differ by more than 1 dB on average
        assert np.abs(_log_spectrum(xa) - _log_spectrum(xb)).mean() > 1.0, (src, dst)


def _digest(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_two_builds_are_byte_identical_and_a_rebuild_is_a_noop(tmp_path):
    cfg = dict(collections=("bach", "ryansMammoth"), limit=2, seconds=3.0, seed=3, version_rate=0.5, progress=False)
    m1 = build_catalog(tmp_path / "a", BuildConfig(**cfg, cache_dir=str(tmp_path / "cache-a")))
    m2 = build_catalog(tmp_path / "b", BuildConfig(**cfg, cache_dir=str(tmp_path / "cache-b"), jobs=2))
    assert m1["rendered"] == m2["rendered"] == m1["counts"]["tracks"] > 0  # both really rendered
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    before = (tmp_path / "a" / "READY").stat().st_ino
    again = build_catalog(tmp_path / "a", BuildConfig(**cfg, cache_dir=str(tmp_path / "cache-a")))
    assert again == m1 and (tmp_path / "a" / "READY").stat().st_ino == before
    forced = build_catalog(tmp_path / "a", BuildConfig(**cfg, cache_dir=str(tmp_path / "cache-a")), force=True)
    assert forced["rendered"] == 0 and (tmp_path / "a" / "READY").stat().st_ino != before
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    # a new output dir with a warm cache renders nothing
    m3 = build_catalog(tmp_path / "c", BuildConfig(**cfg, cache_dir=str(tmp_path / "cache-a")))
    assert m3["rendered"] == 0 and _digest(tmp_path / "c") == _digest(tmp_path / "a")
    # another seed changes the arrangements
    m4 = build_catalog(tmp_path / "d", BuildConfig(**{**cfg, "seed": 4}, cache_dir=str(tmp_path / "cache-a")))
    assert _digest(tmp_path / "d") != _digest(tmp_path / "a") or m4["rendered"] == 0


def test_missing_renderer_names_the_debian_package(tmp_path):
    with pytest.raises(MissingDependencyError, match="fluid-soundfont-gm"):
        check_dependencies(RenderConfig(soundfont=tmp_path / "missing.sf2"))
    check_dependencies()  # the library and the soundfont are installed here (see test_demo_render.py for the rest)


def test_unknown_collection_lists_choices():
    with pytest.raises(ValueError, match="choose from"):
        resolve_collection("no-such-composer")
    assert resolve_collection("J. S. Bach").key == "bach"
    assert resolve_collection("O'Neill's 1850").key == "oneills1850"


def test_abc_tunes_are_discovered_one_by_one_with_their_header_titles():
    works = discover("oneills1850", limit=0)
    assert len({w.work_id for w in works}) == len(works) > 1000
    multi = [w for w in works if w.number is not None]
    assert multi and all(w.path.endswith(".abc") for w in multi)


def test_arrangements_are_deterministic_and_differ_between_renditions():
    a = arrange("x-1", form="reel", n_parts=1, beat_ql=1.0, seed=7, renditions=2)
    b = arrange("x-1", form="reel", n_parts=1, beat_ql=1.0, seed=7, renditions=2)
    assert a == b and a[0].programs != a[1].programs and a[0].bpm == a[1].bpm
    assert all(p in GM_NAMES for r in a for p in r.programs)


def test_midi_excerpt_loops_short_pieces_to_fill_the_excerpt():
    notes = [((0.0, 1.0, 60, 90), (1.0, 1.0, 62, 90))]  # two quarter notes
    short = excerpt_midi(notes, programs=(73,), bpm=120.0, excerpt_ql=2.0)
    looped = excerpt_midi(notes, programs=(73,), bpm=120.0, excerpt_ql=8.0)
    assert looped.count(bytes((0x90, 60))) == 4 * short.count(bytes((0x90, 60))) == 4


def test_derived_similarity_matches_brute_force_cosine():
    rng = np.random.default_rng(0)
    profiles = {f"a{i}": {f"f{j}": float(v) for j, v in enumerate(rng.integers(0, 4, 6)) if v} for i in range(6)}
    rows = derived_similar(profiles, top_k=2, threshold=0.0)
    ids = sorted(profiles)
    x = np.array([[profiles[a].get(f"f{j}", 0.0) for j in range(6)] for a in ids])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for r in rows:
        i, j = ids.index(r["src"]), ids.index(r["dst"])
        assert r["weight"] == pytest.approx(x[i] @ x[j], abs=1e-4)
        others = sorted((x[i] @ x[k] for k in range(len(ids)) if k != i), reverse=True)
        assert x[i] @ x[j] >= others[1] - 1e-9


def test_key_estimate_is_music21s_estimate_of_the_whole_score():
    from kgjemb.demo.analyse import _estimate_key
    from kgjemb.demo.corpus import load_score

    ids = {"monteverdi-madrigal.4.20", "bach-bwv66.6"}  # the madrigal has grace notes (length 0)
    works = [w for c in ("monteverdi", "bach") for w in discover(c, limit=0) if w.work_id in ids]
    works += discover("oneills1850")[:1]
    assert len(works) == 3
    for w in works:
        score = load_score(w)
        fast, slow = _estimate_key(score), score.analyze("key")
        assert (fast.tonic.name, fast.mode) == (slow.tonic.name, slow.mode), w.work_id
        assert fast.correlationCoefficient == pytest.approx(slow.correlationCoefficient, abs=1e-12), w.work_id
