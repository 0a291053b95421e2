"""A synthetic catalog of any size, for load benchmarks and interruption tests.

Deterministic for a given seed; every row is valid (ids unique, references resolve, kinds
and relation types from the schema), so the whole catalog loads. Default shape for
``tracks=100_000``: 10k artists, 10k albums, 300k track attributes, 20k artist attributes
and ~80k relations (~500k relationship rows across tables, ~520k catalog rows).

>>> counts = write_synthetic_catalog("data/synth-1k", tracks=1_000)
>>> counts["tracks"]
1000
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kgjemb.atomic import atomic_path
from kgjemb.catalog.schema import ATTRIBUTE_KINDS

__all__ = ["SyntheticConfig", "write_synthetic_catalog"]

_VOCAB = {
    "genre": ["folk", "baroque", "romantic", "jazz", "ambient", "blues", "reel", "jig", "chorale", "waltz"],
    "mood": ["melancholic", "joyful", "serene", "tense", "dreamy", "playful", "solemn", "wistful"],
    "instrument": ["piano", "violin", "strings", "organ", "flute", "guitar", "harp", "cello", "clarinet"],
    "tempo": ["slow", "moderate", "fast", "very fast"],
    "mode": ["major", "minor", "dorian", "mixolydian"],
    "key": [f"{n} {m}" for n in "CDEFGAB" for m in ("major", "minor")],
    "meter": ["2/4", "3/4", "4/4", "6/8", "9/8"],
    "region": ["ireland", "scotland", "bohemia", "saxony", "brittany", "appalachia"],
}


@dataclass(frozen=True)
class SyntheticConfig:
    """Shape of a synthetic catalog; ``None`` counts scale with ``tracks`` (artists and
    albums: tracks // 10, at least 2)."""

    tracks: int = 100_000
    artists: int | None = None
    albums: int | None = None
    attrs_per_track: int = 3
    attrs_per_artist: int = 2
    similar_per_artist: int = 4
    seed: int = 0


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _attributes(rng: np.random.Generator, owners: np.ndarray, per: int, owner_col: str) -> pd.DataFrame:
    kinds = np.array(sorted(_VOCAB), dtype=object)
    n = len(owners) * per
    owner = np.repeat(owners, per)
    # distinct kinds per owner: a random rotation of the kind list
    offset = np.repeat(rng.integers(0, len(kinds), len(owners)), per)
    kind = kinds[(offset + np.tile(np.arange(per), len(owners))) % len(kinds)]
    value = np.empty(n, dtype=object)
    for k, vocab in _VOCAB.items():
        sel = kind == k
        value[sel] = np.array(vocab, dtype=object)[rng.integers(0, len(vocab), int(sel.sum()))]
    weight = np.round(rng.uniform(0.3, 1.0, n), 3)
    return pd.DataFrame({owner_col: owner, "kind": kind, "value": value, "weight": weight})


def write_synthetic_catalog(root: str | os.PathLike, config: SyntheticConfig | None = None, **overrides) -> dict[str, int]:
    """Write a synthetic CSV catalog under ``root`` (created) and return rows per table.

    ``config`` (default ``SyntheticConfig()``) or keyword overrides such as ``tracks=``.
    """
    cfg = config or SyntheticConfig()
    if overrides:
        cfg = SyntheticConfig(**{**cfg.__dict__, **overrides})
    if cfg.tracks <= 0:
        raise ValueError(f"tracks must be positive, got {cfg.tracks}")
    unknown_kinds = set(_VOCAB) - ATTRIBUTE_KINDS
    if unknown_kinds:  # schema drift would make the generator write invalid rows
        raise ValueError(f"synthetic kinds not in the schema: {sorted(unknown_kinds)}")
    rng = np.random.default_rng(cfg.seed)
    n_art = cfg.artists or max(2, cfg.tracks // 10)
    n_alb = cfg.albums or max(2, cfg.tracks // 10)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)

    artist_ids = _ids("ar", n_art)
    artists = pd.DataFrame({
        "id": artist_ids,
        "name": [f"Artist {i} {w}" for i, w in zip(range(n_art), rng.choice(["Ensemble", "Trio", "Band", "Quartet"], n_art))],
        "aliases": np.where(rng.random(n_art) < 0.2, [f"A{i}|Art {i}" for i in range(n_art)], ""),
        "born": np.where(rng.random(n_art) < 0.5, rng.integers(1600, 2000, n_art).astype(str), ""),
        "died": "",
        "country": rng.choice(["IE", "GB", "DE", "FR", "CZ", "US"], n_art),
    })
    album_ids = _ids("al", n_alb)
    albums = pd.DataFrame({
        "id": album_ids, "title": [f"Album {i}" for i in range(n_alb)],
        "year": rng.integers(1950, 2025, n_alb), "artist_id": artist_ids[rng.integers(0, n_art, n_alb)],
    })
    track_ids = _ids("tr", cfg.tracks)
    album_of = rng.integers(0, n_alb, cfg.tracks)
    tracks = pd.DataFrame({
        "id": track_ids, "title": [f"Track {i}" for i in range(cfg.tracks)],
        "artist_id": albums["artist_id"].to_numpy()[album_of], "album_id": album_ids[album_of],
        "duration_s": np.round(rng.uniform(60, 400, cfg.tracks), 2), "year": rng.integers(1950, 2025, cfg.tracks),
        "audio_path": "",
    })
    track_attrs = _attributes(rng, track_ids, cfg.attrs_per_track, "track_id")
    artist_attrs = _attributes(rng, artist_ids, cfg.attrs_per_artist, "artist_id")

    def pairs(rtype: str, src: np.ndarray, dst: np.ndarray, role=None) -> pd.DataFrame:
        frame = pd.DataFrame({"src": src, "type": rtype, "dst": dst})
        frame = frame[frame["src"] != frame["dst"]].drop_duplicates(["src", "dst"])
        frame["weight"] = np.round(rng.uniform(0.1, 1.0, len(frame)), 3)
        frame["source"] = "synthetic"
        frame["role"] = role if role is not None else ""
        return frame

    k = cfg.similar_per_artist
    n_ver = max(1, cfg.tracks // 10)
    relations = pd.concat([
        pairs("SIMILAR_TO", np.repeat(artist_ids, k), artist_ids[rng.integers(0, n_art, n_art * k)]),
        pairs("INFLUENCED_BY", artist_ids, artist_ids[rng.integers(0, n_art, n_art)]),
        pairs("MEMBER_OF", artist_ids[: n_art // 2], artist_ids[n_art // 2 + rng.integers(0, n_art - n_art // 2, n_art // 2)]),
        pairs("VERSION_OF", track_ids[rng.integers(0, cfg.tracks, n_ver)], track_ids[rng.integers(0, cfg.tracks, n_ver)]),
        pairs("BY", track_ids[rng.integers(0, cfg.tracks, n_ver)], artist_ids[rng.integers(0, n_art, n_ver)], role="composer"),
    ], ignore_index=True)
    tables = {"artists": artists, "albums": albums, "tracks": tracks, "track_attributes": track_attrs,
              "artist_attributes": artist_attrs, "relations": relations}
    for name, frame in tables.items():
        with atomic_path(root / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    return {name: len(frame) for name, frame in tables.items()}
