"""The joint audio-text-entity model: config, towers, and the JointModel implementation.

>>> from kgjemb.model import ModelConfig, KGJointModel, load_model
>>> m = KGJointModel(ModelConfig())  # doctest: +SKIP
"""
from kgjemb.model.base import JointModel
from kgjemb.model.config import FrontendConfig, ModelConfig
from kgjemb.model.joint import GraphInputs, KGJointModel, default_device, load_model

__all__ = [
    "FrontendConfig",
    "GraphInputs",
    "JointModel",
    "KGJointModel",
    "ModelConfig",
    "default_device",
    "load_model",
]
