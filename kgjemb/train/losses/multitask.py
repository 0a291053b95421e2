"""Weighted sum of named losses, each applied to its own inputs, returning the parts.

>>> mt = MultiTaskLoss({"text": (get_loss("info_nce"), 1.0), "track": (get_loss("triplet"), 0.5)})
>>> out = mt({"text": dict(a=audio, b=text), "track": dict(a=audio, b=audio2)}, output_dict=True)  # doctest: +SKIP
>>> out["loss"], out["text"], out["track"]  # doctest: +SKIP

A part whose inputs are missing from the call is skipped (weight 0 this step).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from kgjemb.train.losses.base import PairLoss

__all__ = ["MultiTaskLoss"]


class MultiTaskLoss(nn.Module):
    """``parts``: ``{name: (loss_module, weight)}``; ``forward(inputs: {name: kwargs})``."""

    name = "multitask"

    def __init__(self, parts: Mapping[str, tuple[PairLoss, float]]) -> None:
        super().__init__()
        if not parts:
            raise ValueError("MultiTaskLoss needs at least one part")
        for name, (_, weight) in parts.items():
            if weight < 0:
                raise ValueError(f"weight of {name!r} must be >= 0, got {weight}")
        self.parts = nn.ModuleDict({name: loss for name, (loss, _) in parts.items()})
        self.weights = {name: float(w) for name, (_, w) in parts.items()}

    def forward(self, inputs: Mapping[str, Mapping], *, output_dict: bool = False):
        unknown = sorted(set(inputs) - set(self.parts))
        if unknown:
            raise ValueError(f"unknown loss parts {unknown}; choose from {sorted(self.parts)}")
        if not inputs:
            raise ValueError(f"no inputs given; parts are {sorted(self.parts)}")
        total, out = None, {}
        for name, kwargs in inputs.items():
            value = self.parts[name](**kwargs)  # scalar
            out[name] = value
            term = self.weights[name] * value
            total = term if total is None else total + term
        out["loss"] = total
        return out if output_dict else total
