"""Baselines scored next to trained models on track → track tasks.

* ``mfcc``: :func:`kgjemb.audio.mfcc.mfcc_stats` of each track's cached log-mels (20 MFCC
  means and sds), each of the 40 dimensions standardised over the evaluated tracks (so
  MFCC 0, the loudness, does not swamp the cosine), compared by cosine.
* ``random``: :func:`kgjemb.train.evaluate.random_vectors` (chance).

>>> vecs = mfcc_vectors(paths, FeatureCache(".kgjemb/cache/audio", FrontendConfig()))  # doctest: +SKIP
>>> vecs.shape  # doctest: +SKIP
(n_tracks, 40)
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from kgjemb.audio.cache import FeatureCache
from kgjemb.audio.mfcc import mfcc_stats

__all__ = ["mfcc_vectors"]


def mfcc_vectors(paths: Sequence[str | os.PathLike], features: FeatureCache, *, n_mfcc: int = 20) -> np.ndarray:
    """``(len(paths), 2 * n_mfcc)`` MFCC statistics of each file, standardised per
    dimension over ``paths`` (a constant dimension stays 0). ``features`` supplies the
    log-mels (its first ``n_mels`` rows)."""
    n_mels = features.cfg.n_mels
    x = np.stack([mfcc_stats(features.features(p)[:n_mels], n_mfcc=n_mfcc) for p in paths])  # (n, 2*n_mfcc)
    sd = x.std(axis=0)
    return ((x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
