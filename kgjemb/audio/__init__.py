"""Audio front end: decoding, log-mel + chroma features, on-disk feature cache, chunking.

Names resolve lazily (PEP 562), as in :mod:`kgjemb.model`: the query path reads
``kgjemb.audio.config`` (through ``ModelConfig``) and must not import torch with the
feature code (2-5 s a one-shot search would pay for nothing).
"""
from __future__ import annotations

import importlib

__all__ = [
    "AudioDecodeError",
    "Chroma",
    "Features",
    "FeatureCache",
    "FrontendConfig",
    "LogMel",
    "chunk_features",
    "compute_features",
    "file_sha256",
    "load_audio",
    "silence_db",
]

_HOME = {
    "FeatureCache": "kgjemb.audio.cache",
    "compute_features": "kgjemb.audio.cache",
    "file_sha256": "kgjemb.audio.cache",
    "FrontendConfig": "kgjemb.audio.config",
    "Chroma": "kgjemb.audio.features",
    "Features": "kgjemb.audio.features",
    "LogMel": "kgjemb.audio.features",
    "chunk_features": "kgjemb.audio.features",
    "silence_db": "kgjemb.audio.features",
    "AudioDecodeError": "kgjemb.audio.io",
    "load_audio": "kgjemb.audio.io",
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'kgjemb.audio' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
