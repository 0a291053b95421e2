"""The joint audio-text-entity model: config, towers, and the JointModel implementation.

>>> from kgjemb.model import ModelConfig, KGJointModel, load_model
>>> m = KGJointModel(ModelConfig())  # doctest: +SKIP

Names resolve lazily (PEP 562): ``kgjemb.model.text_onnx`` — what answers a query — loads
without the audio CNN and the graph network (``kgjemb.model.joint`` imports
``torch_geometric`` through the entity tower: ~9-14 s that a query must not pay).
"""
from __future__ import annotations

import importlib

__all__ = [
    "FrontendConfig",
    "GraphInputs",
    "JointModel",
    "KGJointModel",
    "ModelConfig",
    "TextModel",
    "default_device",
    "load_model",
    "load_text_model",
    "feature_digest",
    "onnx_file",
    "save_audio_vectors",
    "stored_audio_vectors",
]

_HOME = {
    "JointModel": "kgjemb.model.base",
    "FrontendConfig": "kgjemb.model.config",
    "ModelConfig": "kgjemb.model.config",
    "GraphInputs": "kgjemb.model.joint",
    "KGJointModel": "kgjemb.model.joint",
    "default_device": "kgjemb.model.joint",
    "load_model": "kgjemb.model.joint",
    "TextModel": "kgjemb.model.text_onnx",
    "load_text_model": "kgjemb.model.text_onnx",
    "onnx_file": "kgjemb.model.text_onnx",
    "feature_digest": "kgjemb.model.vectors",
    "save_audio_vectors": "kgjemb.model.vectors",
    "stored_audio_vectors": "kgjemb.model.vectors",
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'kgjemb.model' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
