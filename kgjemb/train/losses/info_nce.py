"""Symmetric InfoNCE (CLIP loss) with a learnable temperature.

logits = exp(logit_scale) · a @ bᵀ; cross-entropy a→b and b→a, averaged. ``logit_scale``
is learnable (init ln(1/0.07)) and clamped to [0, ln 100] as in CLIP; pass
``logit_scale=model.logit_scale`` to use a parameter owned by the model instead. With
``ids``, rows sharing an id are all positives: the target distribution spreads evenly over
them (multi-positive / SupCon-style) instead of treating them as negatives.

>>> loss = InfoNCELoss()(audio, text, ids=track_ids)  # doctest: +SKIP
"""
from __future__ import annotations

import math

import torch
from torch import nn

from kgjemb.train.losses.base import PairLoss, positive_mask, register_loss, weighted_mean

__all__ = ["InfoNCELoss", "info_nce"]

MAX_LOGIT_SCALE = math.log(100.0)


def info_nce(
    a: torch.Tensor,
    b: torch.Tensor,
    logit_scale: torch.Tensor,
    *,
    ids: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    positives: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Functional form on unit vectors; returns ``{"loss", "a2b", "b2a", "temperature"}``.
    ``positives`` ``(B, B)`` bool adds positive pairs a[i]–b[j] (need not be symmetric)."""
    scale = logit_scale.clamp(0.0, MAX_LOGIT_SCALE).exp()
    logits = scale * (a @ b.T)  # (B, B)
    pos = positive_mask(ids, a.shape[0], a.device, positives).to(logits.dtype)  # (B, B)
    target = pos / pos.sum(dim=1, keepdim=True)  # (B, B) each row sums to 1
    target_t = pos.T / pos.T.sum(dim=1, keepdim=True)  # (B, B) for b → a
    a2b = -(target * logits.log_softmax(dim=1)).sum(dim=1)  # (B,)
    b2a = -(target_t * logits.T.log_softmax(dim=1)).sum(dim=1)  # (B,)
    a2b, b2a = weighted_mean(a2b, weights), weighted_mean(b2a, weights)
    return {"loss": (a2b + b2a) / 2, "a2b": a2b, "b2a": b2a, "temperature": 1.0 / scale.detach()}


@register_loss("info_nce")
class InfoNCELoss(PairLoss):
    """Symmetric InfoNCE. ``learn_temperature`` (True): own a learnable ``logit_scale``."""

    def __init__(self, *, init_logit_scale: float = math.log(1 / 0.07), learn_temperature: bool = True) -> None:
        super().__init__()
        value = torch.tensor(float(init_logit_scale))
        if learn_temperature:
            self.logit_scale = nn.Parameter(value)
        else:
            self.register_buffer("logit_scale", value)

    def compute(self, a, b, *, pos, ids=None, weights=None, logit_scale: torch.Tensor | None = None):
        scale = self.logit_scale if logit_scale is None else logit_scale
        return info_nce(a, b, scale, weights=weights, positives=pos)
