"""Linear metric-learning baseline: handcrafted audio features + a learned linear map.

Features per track (:func:`handcrafted_features`, first ``max_seconds`` at 22.05 kHz):
log-mel band mean and std (64 + 64), chroma mean (12), spectral centroid mean/std and
flatness mean/std (4), onset rate (1) = 145 numbers, standardised with training-track
statistics. A map ``W`` (145 → ``dim``) is trained LMNN-style on the TRAINING tracks only
(held-out tracks never enter training or attribute prototypes): triplets (anchor,
positive, negative) with positives from the graph (same work / artist / album, the
trainer's meta-paths) and random non-positive negatives; loss = mean hinge(margin +
d(a,p) − d(a,n)) + ``pull`` · mean d(a,p) with squared distances of the mapped vectors.

There is no text tower. A query is parsed with the bundle's parser and scored as a sum of
cosines in the mapped space: a linked track anchor uses its own features; an artist or
album anchor the mean of its training tracks; an attribute the parser links (an
``Attribute`` entity of the parse) the mean of the training tracks having it; excluded
(negated) attributes are subtracted (weight 0.5); parsed filters are applied. A phrase
naming no attribute (paraphrases, unseen words) gives no signal; a query with no signal
ranks tracks by id.

Graph facts (positives, attribute prototypes, entity tracks) come from the ``export`` the
system is given, the same query-time snapshot the engine systems see (masked or not); the
audio features are extracted once and reused across snapshots (``features=``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import librosa
import numpy as np
import torch
from tqdm.auto import tqdm

from kgjemb.audio.io import load_audio
from kgjemb.graph.base import GraphExport
from kgjemb.metrics import rank_by_score
from kgjemb.query.engine import Engine
from kgjemb.train.positives import GraphIndex

__all__ = ["LinearConfig", "LinearMetricSystem", "handcrafted_features"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinearConfig:
    """``dim`` (32) of the map; ``steps`` (300) Adam steps of ``batch`` (128) triplets at
    ``lr`` (0.01); ``margin`` (1.0), ``pull`` (0.1); ``max_seconds`` (30) of audio read."""

    dim: int = 32
    steps: int = 300
    batch: int = 128
    lr: float = 0.01
    margin: float = 1.0
    pull: float = 0.1
    max_seconds: float = 30.0


def handcrafted_features(path: str, max_seconds: float = 30.0, sr: int = 22050) -> np.ndarray:
    """(145,) float32 feature vector of one audio file (see module docstring)."""
    y = load_audio(path, sample_rate=sr, max_seconds=max_seconds)
    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=64) + 1e-10)  # (64, frames)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr)  # (12, frames)
    cent = librosa.feature.spectral_centroid(y=y, sr=sr)[0] / (sr / 2)  # (frames,)
    flat = librosa.feature.spectral_flatness(y=y)[0]  # (frames,)
    onsets = librosa.onset.onset_detect(y=y, sr=sr)
    rate = len(onsets) / max(y.size / sr, 1e-3)
    return np.concatenate([mel.mean(1), mel.std(1), chroma.mean(1), [cent.mean(), cent.std(), flat.mean(), flat.std(), rate]]).astype(np.float32)


class LinearMetricSystem:
    """See module docstring. Build with :meth:`fit`."""

    def __init__(self, engine: Engine, track_ids: list[str], mapped: np.ndarray, train_mask: np.ndarray, *,
                 export: GraphExport, features: np.ndarray, name: str = "linear-metric") -> None:
        self.engine = engine
        self.track_ids = track_ids
        self.row = {t: i for i, t in enumerate(track_ids)}
        self.z = mapped  # (n_tracks, dim), L2-normalised
        self.train_mask = train_mask  # (n_tracks,)
        self.features = features  # (n_tracks, 145), raw, reusable by another fit
        self.name = name
        has = export.edges[("Track", "HAS", "Attribute")]
        self.attr_tracks: dict[str, list[int]] = {}
        for s, d in zip(has["src"], has["dst"]):
            if s in self.row and train_mask[self.row[s]]:
                self.attr_tracks.setdefault(d, []).append(self.row[s])
        self.entity_tracks: dict[str, list[int]] = {}
        for key in (("Track", "BY", "Artist"), ("Track", "ON", "Album")):
            e = export.edges[key]
            for s, d in zip(e["src"], e["dst"]):
                if s in self.row and train_mask[self.row[s]]:
                    self.entity_tracks.setdefault(f"{key[2]}:{d}", []).append(self.row[s])

    @classmethod
    def fit(cls, engine: Engine, held_out: Sequence[str], *, export: GraphExport | None = None,
            features: np.ndarray | None = None, config: LinearConfig = LinearConfig(), seed: int = 0,
            progress: bool = False) -> "LinearMetricSystem":
        """Train the map on the non-held-out indexed tracks with the graph positives of
        ``export`` (None: the engine's bundle snapshot). ``features``: the raw features of
        ``engine.track_ids`` from an earlier fit (None: extract them from the audio)."""
        export = engine.bundle.export if export is None else export
        ids = list(engine.track_ids)
        if features is None:
            paths = dict(zip(export.nodes["Track"]["id"], export.nodes["Track"]["audio_path"]))
            features = np.stack([handcrafted_features(paths[t], config.max_seconds)
                                 for t in tqdm(ids, desc="linear baseline features", disable=not progress)])  # (n, 145)
        elif features.shape[0] != len(ids):
            raise ValueError(f"features have {features.shape[0]} rows but the engine indexes {len(ids)} tracks")
        feats = features
        held = set(held_out)
        train = np.array([t not in held for t in ids])  # (n,)
        mu = feats[train].mean(0)
        sd = feats[train].std(0) + 1e-6
        x = (feats - mu) / sd  # (n, 145)
        gi = GraphIndex.from_export(export)
        rows = np.array([export.node_index("Track")[t] for t in ids])
        pos = np.zeros((len(ids), len(ids)), dtype=bool)
        for path in ("same_work", "same_artist", "same_album"):
            if path in gi.paths:
                pos |= gi.paths[path][rows][:, rows].toarray() > 0
        np.fill_diagonal(pos, False)
        pos &= train[:, None] & train[None, :]
        anchors = np.flatnonzero(pos.any(1))
        gen = torch.Generator().manual_seed(seed)
        w = torch.nn.Parameter(torch.randn(x.shape[1], config.dim, generator=gen) / np.sqrt(x.shape[1]))
        if len(anchors):
            rng = np.random.default_rng(seed)
            xt = torch.from_numpy(x)
            opt = torch.optim.Adam([w], lr=config.lr)
            tr_rows = np.flatnonzero(train)
            for _ in range(config.steps):
                a = rng.choice(anchors, config.batch)
                p = np.array([rng.choice(np.flatnonzero(pos[i])) for i in a])
                n = rng.choice(tr_rows, config.batch)
                ok = ~pos[a, n] & (n != a)
                za, zp, zn = xt[a] @ w, xt[p] @ w, xt[n] @ w  # (batch, dim) each
                dp = ((za - zp) ** 2).sum(1)  # (batch,)
                dn = ((za - zn) ** 2).sum(1)  # (batch,)
                okt = torch.from_numpy(ok.astype(np.float32))
                loss = (torch.relu(config.margin + dp - dn) * okt).sum() / okt.sum().clamp(min=1) + config.pull * dp.mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            logger.info("linear baseline: %d steps, final loss %.3f", config.steps, float(loss.detach()))
        else:
            logger.warning("linear baseline: no graph positives among training tracks; map left random")
        z = (torch.from_numpy(x) @ w).detach().numpy()  # (n, dim)
        z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        return cls(engine, ids, z.astype(np.float32), train, export=export, features=features)

    def _proto(self, rows: list[int]) -> np.ndarray | None:
        if not rows:
            return None
        v = self.z[rows].mean(0)
        nv = np.linalg.norm(v)
        return v / nv if nv > 0 else None

    def rank_batch(self, queries: Sequence[str], k: int) -> list[list[str]]:
        parsed = self.engine.parser.parse_batch(list(queries))
        out = []
        for p in parsed:
            sigs: list[tuple[float, np.ndarray]] = []
            exclude: list[int] = []
            for ent in p.entities:
                if ent.id is not None and ent.label == "Attribute" and ent.role in ("like", "exclude"):
                    v = self._proto(self.attr_tracks.get(ent.id, []))
                    if v is not None:
                        sigs.append((-0.5 if ent.role == "exclude" else 1.0, v))
                    continue
                if ent.role != "like" or ent.id is None or ent.label not in ("Track", "Artist", "Album"):
                    continue
                if ent.label == "Track" and ent.id in self.row:
                    sigs.append((1.0, self.z[self.row[ent.id]]))
                    exclude.append(self.row[ent.id])
                else:
                    v = self._proto(self.entity_tracks.get(f"{ent.label}:{ent.id}", []))
                    if v is not None:
                        sigs.append((1.0, v))
            scores = np.zeros(len(self.track_ids), dtype=np.float64)  # (n,)
            for wgt, v in sigs:
                scores += wgt * (self.z @ v)
            mask, _ = self.engine.allowed(list(p.filters))
            allowed = np.ones(len(self.track_ids), dtype=bool) if mask is None else mask.copy()
            allowed[exclude] = False
            keep = np.flatnonzero(allowed)
            out.append(rank_by_score([self.track_ids[i] for i in keep], scores[keep])[:k])
        return out
