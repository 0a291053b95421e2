"""How much a trained audio tower's vectors move when the audio is degraded the way real
recordings are — in the waveform domain, with a real MP3 encoder (libsndfile/LAME), not
the feature-domain approximations the trainer augments with. Prints figures; asserts nothing.

For every track of a catalog with audio, each degradation writes a new file; the model
embeds clean and degraded files; per model and degradation:

* ``self_R@1``: a degraded track's vector finds its own clean vector first among all clean
  vectors (invariance to the degradation);
* ``cos``: mean cosine between a track's clean and degraded vectors;
* ``artist_P@5``: of the 5 nearest clean vectors of a degraded query (itself excluded),
  the share by the same artist.

    .venv/bin/python scripts/bench_robustness.py --catalog CI_CATALOG runs/quality/full-s0 runs/quality/full-aug-s0
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _reverb(y: np.ndarray, sr: int, rng: np.random.Generator, rt60: float = 0.7) -> np.ndarray:
    from scipy.signal import fftconvolve

    t = np.arange(int(1.2 * rt60 * sr)) / sr
    ir = rng.normal(size=len(t)) * 10.0 ** (-3.0 * t / rt60)  # amplitude: -60 dB of power at rt60
    ir[0] = 1.0 / np.sqrt(np.sum(ir[1:] ** 2) + 1e-12)  # direct path ~ as loud as the tail
    wet = fftconvolve(y, ir)[: len(y)]
    return wet * np.sqrt(np.mean(y**2) / max(np.mean(wet**2), 1e-20))


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.maximum(np.arange(len(spec)), 1)
    return np.fft.irfft(spec / np.sqrt(f), n=n)


def _noise(y: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    n = _pink(len(y), rng)
    return y + n * np.sqrt(np.mean(y**2) / max(np.mean(n**2), 1e-20) * 10.0 ** (-snr_db / 10.0))


DEGRADATIONS = ("mp3", "reverb", "noise10", "room_mic_mp3")


def degrade(paths: list[str], out: Path) -> dict[str, list[Path]]:
    """Write every degradation of every file into ``out``; returns name → paths."""
    import soundfile as sf

    files: dict[str, list[Path]] = {d: [] for d in DEGRADATIONS}
    for i, p in enumerate(paths):
        y, sr = sf.read(p, dtype="float64", always_2d=True)
        y = y.mean(axis=1)
        rng = np.random.default_rng(i)
        versions = {
            "mp3": (y, "mp3"),
            "reverb": (_reverb(y, sr, rng), "wav"),
            "noise10": (_noise(y, rng, 10.0), "wav"),
            "room_mic_mp3": (0.5 * _noise(_reverb(y, sr, rng, 0.5), rng, 20.0), "mp3"),
        }
        for name, (wave, ext) in versions.items():
            dest = out / f"{name}-{i:04d}.{ext}"
            wave = np.clip(wave / max(1.0, np.abs(wave).max()), -1.0, 1.0).astype(np.float32)
            if ext == "mp3":
                sf.write(dest, wave, sr, format="MP3", subtype="MPEG_LAYER_III", compression_level=0.99)
            else:
                sf.write(dest, wave, sr)
            files[name].append(dest)
    return files


def scores(clean: np.ndarray, dirty: np.ndarray, artists: np.ndarray, k: int = 5) -> dict[str, float]:
    sims = dirty @ clean.T  # (n, n)
    self_r1 = float(np.mean(sims.argmax(axis=1) == np.arange(len(clean))))
    cos = float(np.mean(np.sum(clean * dirty, axis=1)))
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :k]  # (n, k)
    p_artist = float(np.mean(artists[top] == artists[:, None]))
    return {"self_R@1": round(self_r1, 3), "cos": round(cos, 3), f"artist_P@{k}": round(p_artist, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="model directories (kgjemb train --out)")
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--space", default="joint", choices=["joint", "track"])
    args = ap.parse_args()

    from kgjemb.model import load_model
    from tests.fixtures_model import export_of_catalog

    export = export_of_catalog(args.catalog)
    tracks = export.nodes["Track"]
    keep = tracks["audio_path"].notna().to_numpy()
    paths = list(tracks["audio_path"][keep])
    by = export.edges[("Track", "BY", "Artist")]
    primary = by[by["role"] == "primary"].drop_duplicates("src").set_index("src")["dst"]
    artists = tracks["id"][keep].map(primary).fillna("").to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        files = degrade(paths, Path(tmp))
        print(f"{len(paths)} tracks, degradations {list(DEGRADATIONS)}, space {args.space}")
        for m in args.models:
            model = load_model(m, device="cpu", cache_dir=Path(tmp) / "cache")
            clean = model.embed_audio(paths, space=args.space)
            row = {"model": m, "clean artist_P@5": scores(clean, clean, artists)["artist_P@5"]}
            for name, dirty_paths in files.items():
                row[name] = scores(clean, model.embed_audio(dirty_paths, space=args.space), artists)
            print(row)


if __name__ == "__main__":
    main()
