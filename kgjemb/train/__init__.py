"""Training with knowledge-graph positives.

>>> from kgjemb.train import load_config, train
>>> result = train(store.export(), load_config(preset="ci"), out=".kgjemb/model")

Public names are imported lazily so that ``import kgjemb.train.losses`` stays light.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "kgjemb.train.config",
    "load_config": "kgjemb.train.config",
    "list_presets": "kgjemb.train.config",
    "Trainer": "kgjemb.train.trainer",
    "TrainResult": "kgjemb.train.trainer",
    "train": "kgjemb.train.trainer",
    "GraphIndex": "kgjemb.train.positives",
    "PositiveConfig": "kgjemb.train.positives",
    "META_PATHS": "kgjemb.train.positives",
    "TextViews": "kgjemb.train.views",
    "ViewConfig": "kgjemb.train.views",
    "track_facts": "kgjemb.train.views",
    "Split": "kgjemb.train.split",
    "split_by_work": "kgjemb.train.split",
    "split_by_album": "kgjemb.train.split",
    "make_split": "kgjemb.train.split",
    "evaluate_vectors": "kgjemb.train.evaluate",
    "retrieval_metrics": "kgjemb.train.evaluate",
    "compare_systems": "kgjemb.train.compare",
    "effective_ranks": "kgjemb.train.compare",
    "effective_rank": "kgjemb.train.diagnostics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kgjemb.train' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
