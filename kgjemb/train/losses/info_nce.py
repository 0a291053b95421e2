"""Symmetric InfoNCE (CLIP loss) with a learnable temperature and masked false negatives.

logits = exp(logit_scale) · a @ bᵀ; row i's target is column i, cross-entropy a→b and b→a,
averaged. ``logit_scale`` is learnable (init ln(1/0.07)) and clamped to [0, ln 100] as in
CLIP; ``InfoNCELoss(logit_scale=model.logit_scale)`` shares a parameter the model owns
instead (the trainer does: the temperature is saved with the model).

Positive pairs other than the diagonal (rows sharing an ``ids`` value, the explicit
``positives`` mask) are *dropped from the softmax denominator*: they are not negatives, but
neither are they targets. With graph positives and attribute views a batch is full of such
false negatives — two tracks by one artist, two slow pieces for the caption "slow" — and
pushing them apart would teach the model the opposite of the graph. ``extra`` negatives
(graph hard negatives, a queue of momentum-encoded keys) join the a→b direction only, less
those marked in ``extra_positives``. ``symmetric=False`` keeps only a→b: with ``positives``
all True and one ``extra`` row per anchor this is a two-way softmax of a true caption
against its attribute-swap twin.

>>> loss = InfoNCELoss()(text, audio, positives=same_attributes)  # doctest: +SKIP
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from kgjemb.train.losses.base import PairLoss, register_loss, weighted_mean

__all__ = ["InfoNCELoss", "info_nce", "MAX_LOGIT_SCALE"]

MAX_LOGIT_SCALE = math.log(100.0)


def info_nce(
    a: torch.Tensor,
    b: torch.Tensor,
    logit_scale: torch.Tensor,
    *,
    pos: torch.Tensor,
    extra: torch.Tensor | None = None,
    extra_pos: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    symmetric: bool = True,
) -> dict[str, torch.Tensor]:
    """Functional form on unit vectors ``a``, ``b`` ``(B, d)``; ``pos`` ``(B, B)`` bool
    (the diagonal plus every pair that is not a negative), ``extra`` ``(M, d)`` with
    ``extra_pos`` ``(B, M)``. Returns ``{"loss", "a2b", "b2a", "temperature"}``."""
    scale = logit_scale.clamp(0.0, MAX_LOGIT_SCALE).exp()
    n = a.shape[0]
    target = torch.arange(n, device=a.device)
    drop = pos & ~torch.eye(n, dtype=torch.bool, device=a.device)  # (B, B) neither target nor negative
    logits = scale * (a @ b.T)  # (B, B)
    # mask after scaling: -inf times the scale would give the temperature a NaN gradient
    logits_ab = logits.masked_fill(drop, float("-inf"))
    if extra is not None:
        extra_logits = (scale * (a @ extra.T)).masked_fill(extra_pos, float("-inf"))  # (B, M)
        logits_ab = torch.cat([logits_ab, extra_logits], dim=1)  # (B, B + M)
    a2b = weighted_mean(F.cross_entropy(logits_ab, target, reduction="none"), weights)
    out = {"a2b": a2b, "temperature": 1.0 / scale.detach()}
    if not symmetric:
        return {**out, "loss": a2b}
    logits_ba = logits.T.masked_fill(drop.T, float("-inf"))  # (B, B)
    b2a = weighted_mean(F.cross_entropy(logits_ba, target, reduction="none"), weights)
    return {**out, "b2a": b2a, "loss": (a2b + b2a) / 2}


@register_loss("info_nce")
class InfoNCELoss(PairLoss):
    """InfoNCE with masked false negatives. ``learn_temperature`` (True): own a learnable
    ``logit_scale`` initialised at ``init_logit_scale`` (else a fixed buffer);
    ``logit_scale``: a parameter owned elsewhere to use instead (None);
    ``symmetric`` (True): average a→b and b→a."""

    def __init__(
        self,
        *,
        init_logit_scale: float = math.log(1 / 0.07),
        learn_temperature: bool = True,
        logit_scale: nn.Parameter | None = None,
        symmetric: bool = True,
    ) -> None:
        super().__init__()
        self.symmetric = symmetric
        value = torch.tensor(float(init_logit_scale))
        if logit_scale is not None:
            if logit_scale.dim() != 0:
                raise ValueError(f"logit_scale must be a scalar, got shape {tuple(logit_scale.shape)}")
            self.logit_scale = logit_scale
        elif learn_temperature:
            self.logit_scale = nn.Parameter(value)
        else:
            self.register_buffer("logit_scale", value)

    def extra_repr(self) -> str:
        return f"symmetric={self.symmetric}"

    def compute(self, a, b, *, pos, ids=None, weights=None, extra=None, extra_pos=None):
        return info_nce(a, b, self.logit_scale, pos=pos, extra=extra, extra_pos=extra_pos, weights=weights, symmetric=self.symmetric)
