"""Throughput figures for the model and training (prints numbers; no assertions).

``bench_audio``: embed_audio × real time — cold (decode + log-mel + CNN) and warm (features
from the disk cache, CNN only), on 30-s clips built from the fixture audio.
``bench_entities``: embed_entities on a synthetic/bench catalog export (text encoding of
node names + the hetero GNN), cold and warm text cache.
``bench_training``: pairs/s of the trainer on a real catalog (setup timed apart).
``bench_augment``: ms per batch of ``augment_features`` alone (every effect, and each on its
own) on crops of a catalog's cached features.

    .venv/bin/python scripts/bench_train.py audio --threads 1 --clips 16
    .venv/bin/python scripts/bench_train.py entities --catalog data/bench-catalog-10000
    .venv/bin/python scripts/bench_train.py training --catalog data/dev-catalog --steps 10
    .venv/bin/python scripts/bench_train.py augment --catalog CI_CATALOG --preset default
    .venv/bin/python scripts/bench_train.py training --catalog CI_CATALOG --preset ci \
        --override '{"augment": {"enabled": true}, "ssl": true}'      # augmentations + ssl term
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _long_clips(out_dir: Path, n: int, seconds: float) -> list[Path]:
    """``n`` distinct ``seconds``-long wavs made by concatenating the fixture clips."""
    import soundfile as sf

    src = sorted((REPO / "graph" / "fixtures" / "example" / "audio").glob("*.flac"))
    waves = [sf.read(p, dtype="float32") for p in src]
    sr = waves[0][1]
    paths = []
    for i in range(n):
        order = np.random.default_rng(i).permutation(len(waves))
        y = np.concatenate([waves[j][0] for j in order] * int(1 + seconds // (2 * len(waves)) + 1))
        path = out_dir / f"clip{i:03d}.wav"
        sf.write(path, y[: int(seconds * sr)], sr)
        paths.append(path)
    return paths


def bench_audio(*, clips: int = 16, seconds: float = 30.0, threads: int = 1, preset: str = "default") -> dict:
    """embed_audio × real time, cold and warm feature cache."""
    import torch

    from kgjemb.model import KGJointModel, ModelConfig

    torch.set_num_threads(threads)
    cfg = _preset_model(preset)
    with tempfile.TemporaryDirectory() as tmp:
        paths = _long_clips(Path(tmp), clips, seconds)
        model = KGJointModel(cfg, cache_dir=Path(tmp) / "cache", device="cpu")
        model.embed_audio(paths[:1])  # warm-up: librosa/soxr import, allocator
        model.features.computed = 0
        audio_s = clips * seconds
        t0 = time.perf_counter()
        model.embed_audio(paths[1:] if clips > 1 else paths)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.embed_audio(paths)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        for p in paths:
            model.features.features(p)
        read = time.perf_counter() - t0
    cold_audio_s = (clips - 1 if clips > 1 else 1) * seconds
    out = {
        "preset": preset, "dim": cfg.dim, "cnn_channels": list(cfg.cnn_channels), "threads": threads,
        "clips": clips, "clip_s": seconds,
        "cold_x_realtime": round(cold_audio_s / cold, 1),
        "warm_x_realtime": round(audio_s / warm, 1),
        "cache_read_ms_per_clip": round(1000 * read / clips, 2),
        "cnn_ms_per_5s_chunk": round(1000 * (warm - read) / (audio_s / cfg.frontend.chunk_s), 2),
    }
    print(out)
    return out


def bench_entities(*, catalog: str, threads: int = 1, preset: str = "default") -> dict:
    """embed_entities on a catalog export (random unit track vectors)."""
    import torch

    from kgjemb.model import KGJointModel
    from tests.fixtures_model import export_of_catalog

    torch.set_num_threads(threads)
    export = export_of_catalog(catalog, check_audio=False)
    model = KGJointModel(_preset_model(preset), cache_dir=False, device="cpu")
    n_track = len(export.nodes["Track"])
    tv = np.random.default_rng(0).normal(size=(n_track, model.dim)).astype(np.float32)
    tv /= np.linalg.norm(tv, axis=1, keepdims=True)
    t0 = time.perf_counter()
    model.embed_entities(export, tv)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.embed_entities(export, tv)
    warm = time.perf_counter() - t0
    counts = {k: len(v) for k, v in export.nodes.items()}
    edges = sum(len(v) for v in export.edges.values())
    out = {"catalog": catalog, "nodes": counts, "edges": edges, "threads": threads,
           "cold_s (text encode + gnn)": round(cold, 2), "warm_s (gnn only)": round(warm, 2)}
    print(out)
    return out


def bench_training(*, catalog: str, threads: int = 1, preset: str = "default", steps: int = 10,
                   graph: bool = True, device: str = "auto", override: dict | None = None) -> dict:
    """Trainer throughput on a real catalog: training pairs/s (audio-text pairs + track-track
    pairs per step, plus the audio↔audio pairs of the ssl term) and seconds per step, CPU and
    wall, after one warm-up step. Setup (feature cache, text-view encoding) is timed
    separately. ``override``: TrainConfig overrides on top (e.g. augmentations, ssl)."""
    import torch

    from kgjemb.train.config import load_config
    from kgjemb.train.trainer import Trainer
    from tests.fixtures_model import export_of_catalog

    export = export_of_catalog(catalog)
    cfg = load_config(preset=preset, overrides={"num_threads": threads, "use_graph_positives": graph, "device": device,
                                                **(override or {})})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        trainer = Trainer(export, cfg, out=Path(tmp) / "model", cache_dir=REPO / ".cache" / "train-cache", progress=False)
        setup = time.perf_counter() - t0
        trainer.model.train()
        rng = np.random.default_rng(0)
        order = np.concatenate([rng.permutation(trainer.data.train_rows) for _ in range(steps + 2)])
        trainer.step(order, 0, rng, 0)  # warm-up
        pairs = 0.0
        c0, w0 = time.process_time(), time.perf_counter()
        for s in range(1, steps + 1):
            pairs += trainer.step(order, s, rng, s)["pairs"]
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    out = {
        "catalog": catalog, "preset": preset, "graph_positives": graph, "threads": threads,
        "batch_size": cfg.batch_size, "tracks": len(export.nodes["Track"]), "setup_s": round(setup, 1),
        "s_per_step_wall": round(wall / steps, 3), "s_per_step_cpu": round(cpu / steps, 3),
        "pairs_per_s_wall": round(pairs / wall, 1), "pairs_per_s_cpu": round(pairs / cpu, 1),
        "torch_threads": torch.get_num_threads(), "device": str(trainer.device), "override": override or {},
    }
    print(out)
    return out


def bench_augment(*, catalog: str, threads: int = 1, preset: str = "default", batch: int = 48, reps: int = 5) -> dict:
    """CPU ms per batch of ``augment_features`` on ``batch`` crops of ``crop_s_max`` seconds
    cut from the catalog's (cached) features: all effects at their probabilities, then each
    effect alone at probability 1."""
    import dataclasses

    import torch

    from kgjemb.audio.augment import AUGMENTATIONS, AugmentConfig, augment_features, input_frames
    from kgjemb.audio.cache import FeatureCache
    from kgjemb.train.config import load_config
    from tests.fixtures_model import export_of_catalog

    torch.set_num_threads(threads)
    cfg = load_config(preset=preset)
    fe = cfg.model.frontend
    export = export_of_catalog(catalog)
    cache = FeatureCache(REPO / ".cache" / "train-cache" / "audio", fe)
    feats = [cache.features(p) for p in export.nodes["Track"]["audio_path"].dropna()[:batch]]
    frames = int(cfg.crop_s_max * fe.sample_rate / fe.hop_length)
    aug = AugmentConfig(enabled=True)
    n_in = input_frames(frames, aug)
    x = np.full((batch, fe.n_features, n_in), -100.0, dtype=np.float32)
    for i in range(batch):
        f = feats[i % len(feats)][:, :n_in]
        x[i, :, : f.shape[1]] = f
    x = torch.from_numpy(x)

    def ms(c: AugmentConfig) -> float:
        augment_features(x, frames=frames, config=c, frontend=fe, rng=np.random.default_rng(0))  # warm-up
        t0 = time.process_time()
        for r in range(reps):
            augment_features(x, frames=frames, config=c, frontend=fe, rng=np.random.default_rng(r))
        return round(1000 * (time.process_time() - t0) / reps, 1)

    out = {"preset": preset, "batch": batch, "frames": frames, "threads": threads, "all (default p)": ms(aug)}
    out.update({f"{name} alone": ms(aug.only(name)) for name in AUGMENTATIONS})
    print(out)
    return out


def _preset_model(name: str):
    from kgjemb.model import ModelConfig

    if name == "default":
        return ModelConfig()
    from kgjemb.train.config import load_config

    return load_config(preset=name).model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["audio", "entities", "training", "augment"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--preset", default="default", help="'default' = ModelConfig(); else a training preset name")
    ap.add_argument("--catalog", default=str(REPO / "data" / "bench-catalog-10000"))
    ap.add_argument("--steps", type=int, default=10, help="training: timed steps")
    ap.add_argument("--no-graph", action="store_true", help="training: the text-only ablation")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="training: where the trainer runs")
    ap.add_argument("--override", default="{}", help="training: JSON TrainConfig overrides, e.g. '{\"ssl\": true}'")
    args = ap.parse_args()
    if args.what == "audio":
        bench_audio(clips=args.clips, seconds=args.seconds, threads=args.threads, preset=args.preset)
    elif args.what == "augment":
        bench_augment(catalog=args.catalog, threads=args.threads, preset=args.preset)
    elif args.what == "entities":
        bench_entities(catalog=args.catalog, threads=args.threads, preset=args.preset)
    else:
        bench_training(catalog=args.catalog, threads=args.threads, preset=args.preset, steps=args.steps,
                       graph=not args.no_graph, device=args.device, override=json.loads(args.override))


if __name__ == "__main__":
    main()
