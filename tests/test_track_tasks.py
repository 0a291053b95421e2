"""Track → track evaluation tasks on audio vectors alone: same album, same artist; the
MFCC-statistics baseline."""
import librosa
import numpy as np
import pytest
import soundfile as sf

from kgjemb.audio.cache import FeatureCache
from kgjemb.audio.config import FrontendConfig
from kgjemb.audio.mfcc import mfcc_stats
from kgjemb.train.baselines import mfcc_vectors
from kgjemb.train.positives import GraphIndex
from kgjemb.train.evaluate import TRACK_TASKS, catalog_track_metrics, evaluate_vectors, summary_rows


def _album_vectors(export):
    """One-hot vectors by album (tracks on no album get a vector of their own)."""
    tracks = list(export.nodes["Track"]["id"])
    on = export.edges[("Track", "ON", "Album")]
    album_of = dict(zip(on["src"], on["dst"]))
    keys = sorted({album_of.get(t, t) for t in tracks})
    vec = np.zeros((len(tracks), len(keys)), dtype=np.float32)
    for i, t in enumerate(tracks):
        vec[i, keys.index(album_of.get(t, t))] = 1.0
    return tracks, album_of, vec


def test_same_album_relevance_on_the_example_catalog(train_example_export):
    export = train_example_export
    tracks, album_of, vec = _album_vectors(export)
    mask = np.ones(len(tracks), dtype=bool)
    m = evaluate_vectors(export, mask, vec, None, k=3)["track_track"]
    assert set(TRACK_TASKS) <= set(m)
    # queries: tracks whose album has another track (chorales 3, miniatures 2, arrangements 3)
    n_q = sum(1 for t in tracks if sum(album_of.get(u) == album_of.get(t) for u in tracks if u != t and t in album_of))
    assert m["same_album"]["n"] == n_q == 8
    # vectors that encode the album find every album-mate first
    assert m["same_album"]["p1"] == pytest.approx(1.0) and m["same_album"]["recall"] == pytest.approx(1.0)
    # P@3: chorales/arrangements have 2 mates, miniatures 1 → (6 * 2/3 + 2 * 1/3) / 8
    assert m["same_album"]["precision"] == pytest.approx((6 * 2 / 3 + 2 / 3) / 8)
    # vectors that carry no album (all equal: ties go by position) score the first candidates only
    flat = evaluate_vectors(export, mask, np.ones_like(vec), None, k=3)["track_track"]["same_album"]
    assert flat["p1"] < 1.0 and flat["precision"] < m["same_album"]["precision"]
    rows = summary_rows("x", {"k": 3, "track_track": m})
    assert {"P@3", "P@1", "R@3", "mAP@3"} <= set(rows[0])
    # a task with no scorable query (e.g. same_work on a catalog without versions) gives no row of NaNs
    none = {"recall": float("nan"), "map": float("nan"), "precision": float("nan"), "p1": float("nan"), "n": 0}
    rows = summary_rows("x", {"k": 3, "track_track": {**m, "same_work": none}})
    assert "track_track:same_work" not in {r["task"] for r in rows}
    assert "track_track:same_album" in {r["task"] for r in rows}


def test_held_out_tracks_ranked_among_the_whole_catalog(train_example_export):
    export = train_example_export
    tracks, album_of, vec = _album_vectors(export)
    n = len(tracks)
    # the held-out album: one of three tracks that does not hold the first Track row
    albums = [a for a in sorted(set(album_of.values()))
              if sum(album_of.get(t) == a for t in tracks) == 3 and album_of.get(tracks[0]) != a]
    held = np.flatnonzero([album_of.get(t) == albums[0] for t in tracks])
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    every = np.arange(n)
    # vectors that encode the album: the album-mates come first among every track too
    m = evaluate_vectors(export, mask, vec[mask], None, k=3, catalog=(every, vec))
    assert m["track_catalog"]["same_album"]["p1"] == pytest.approx(1.0)
    assert m["track_catalog"]["same_album"]["precision"] == pytest.approx(2 / 3)
    assert m["track_catalog"]["same_album"]["n"] == 3
    # a catalog track (row 0, another album) that sits on the held-out album ties with the
    # album-mates and, earlier in the catalog, takes every query's first place: the
    # held-out-only form cannot see it
    near = vec.copy()
    near[0] = vec[held[0]]
    m = evaluate_vectors(export, mask, near[mask], None, k=3, catalog=(every, near))
    assert m["track_track"]["same_album"]["p1"] == pytest.approx(1.0)
    assert m["track_catalog"]["same_album"]["p1"] == pytest.approx(0.0)
    assert m["track_catalog"]["same_album"]["recall"] == pytest.approx(1.0)
    rows = summary_rows("x", {"k": 3, **m})
    assert "track_catalog:same_album" in {r["task"] for r in rows}
    # every query must be in the catalog
    with pytest.raises(ValueError, match="catalog"):
        catalog_track_metrics(held, every[held[-1] + 1:], vec[held[-1] + 1:], GraphIndex.from_export(export))

def test_mfcc_stats_match_librosa():
    rng = np.random.default_rng(0)
    s = rng.normal(-40, 10, size=(64, 50))  # (n_mels, T) dB
    want = librosa.feature.mfcc(S=s, n_mfcc=20)  # (20, T)
    got = mfcc_stats(s, n_mfcc=20)
    assert got.shape == (40,)
    np.testing.assert_allclose(got[:20], want.mean(axis=1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got[20:], want.std(axis=1), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="n_mfcc"):
        mfcc_stats(s[:10], n_mfcc=20)


def test_mfcc_baseline_gives_finite_vectors_per_track(tmp_path):
    sr = 16000
    t = np.arange(sr * 3) / sr
    rng = np.random.default_rng(1)
    clips = {"sine.wav": 0.3 * np.sin(2 * np.pi * 440 * t), "noise.wav": 0.1 * rng.standard_normal(t.size),
             "chirp.wav": 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t), "silence.wav": np.zeros(t.size)}
    paths = []
    for name, y in clips.items():
        sf.write(tmp_path / name, y.astype(np.float32), sr)
        paths.append(tmp_path / name)
    vec = mfcc_vectors(paths, FeatureCache(None, FrontendConfig()))
    assert vec.shape == (4, 40) and np.isfinite(vec).all()
    assert np.allclose(vec.mean(axis=0), 0.0, atol=1e-4)  # standardised over the tracks
    assert not np.allclose(vec[0], vec[1])  # a tone and noise differ


def test_catalog_same_album_broken_down_by_album(train_example_export):
    from kgjemb.train.evaluate import album_catalog_metrics

    export = train_example_export
    tracks, album_of, vec = _album_vectors(export)
    every = np.arange(len(tracks))
    held = np.flatnonzero([t in album_of for t in tracks])  # every track on an album is a query
    index = GraphIndex.from_export(export)
    rows = album_catalog_metrics(export, held, every, vec, index=index, k=3)
    # one row per album with an album-mate (chorales 3, miniatures 2, arrangements 3), by id
    assert [r["album"] for r in rows] == sorted(r["album"] for r in rows)
    assert sorted(r["queries"] for r in rows) == [2, 3, 3]
    titles = dict(zip(export.nodes["Album"]["id"], export.nodes["Album"]["title"]))
    assert all(r["title"] == titles[r["album"]] for r in rows)
    # vectors that encode the album: every album finds its mates first
    assert all(r["P@1"] == pytest.approx(1.0) for r in rows)
    # another catalog track placed on one album's tracks takes that album's first places only
    near = vec.copy()
    victim = rows[0]["album"]
    mates = [i for i, t in enumerate(tracks) if album_of.get(t) == victim]
    outsider = next(i for i, t in enumerate(tracks) if album_of.get(t) != victim and i < mates[0])
    near[outsider] = vec[mates[0]]
    broken = {r["album"]: r for r in album_catalog_metrics(export, held, every, near, index=index, k=3)}
    assert broken[victim]["P@1"] < 1.0
    assert all(r["P@1"] == pytest.approx(1.0) for a, r in broken.items() if a not in (victim, album_of.get(tracks[outsider])))
    # the albums' rows add up to the whole gallery's figure (weighted by their scored queries)
    whole = catalog_track_metrics(held, every, near, index, k=3)["same_album"]
    n = sum(r["n"] for r in broken.values())
    assert n == whole["n"]
    assert sum(r["P@3"] * r["n"] for r in broken.values()) / n == pytest.approx(whole["precision"])
    assert sum(r["P@1"] * r["n"] for r in broken.values()) / n == pytest.approx(whole["p1"])
