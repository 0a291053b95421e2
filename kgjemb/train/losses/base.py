"""Loss base class and the name → class registry.

Every loss is "features in, scalar out" (open_clip style): ``loss(a, b, ids=..., weights=...)``
where row ``i`` of ``a`` and row ``i`` of ``b`` are a positive pair (e.g. audio and text of one
track). ``ids`` (optional, ``(B,)`` int) marks rows that share an identity: such rows are
positives of each other, never negatives. ``weights`` (optional, ``(B,)``) weight each pair. ``positives`` (optional, ``(B, B)`` bool)
marks further positive pairs ``a[i]``–``b[j]`` explicitly (e.g. an entity and every batch track
it links to); it need not be symmetric. Positives are never counted as negatives.
``extra`` (optional, ``(M, dim)``) adds candidates that are negatives of every ``a`` row in the
``a → b`` direction only (graph hard negatives, a queue of momentum-encoded keys);
``extra_positives`` (``(B, M)`` bool) marks those that are not negatives of row ``i``.
With ``output_dict=True`` a dict ``{"loss": scalar, ...parts}`` is returned instead.
Inputs are L2-normalised inside, so raw or unit features are both fine.

>>> loss_fn = get_loss("info_nce")
>>> loss = loss_fn(audio, text)  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["PairLoss", "LOSSES", "register_loss", "get_loss", "positive_mask", "check_pair_inputs", "check_extra"]

#: name → loss class, filled by :func:`register_loss`
LOSSES: dict[str, type["PairLoss"]] = {}


def register_loss(name: str) -> Callable[[type], type]:
    """Class decorator adding a loss to :data:`LOSSES` under ``name``."""

    def deco(cls: type) -> type:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} registered twice")
        LOSSES[name] = cls
        cls.name = name
        return cls

    return deco


def get_loss(name: str, **kwargs) -> "PairLoss":
    """Build a registered loss by name; unknown names list the choices.

    >>> get_loss("triplet", margin=0.3, mining="hard")  # doctest: +ELLIPSIS
    TripletLoss(...)
    """
    try:
        cls = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}") from None
    return cls(**kwargs)


def check_pair_inputs(
    a: torch.Tensor, b: torch.Tensor, ids: torch.Tensor | None, weights: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate shapes at the boundary; return L2-normalised ``a`` and ``b``."""
    if a.dim() != 2 or b.dim() != 2 or a.shape != b.shape:
        raise ValueError(f"a and b must both be (batch, dim) of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] == 0:
        raise ValueError("empty batch")
    for name, t in (("ids", ids), ("weights", weights)):
        if t is not None and t.shape != (a.shape[0],):
            raise ValueError(f"{name} must be ({a.shape[0]},), got {tuple(t.shape)}")
    return F.normalize(a, dim=-1), F.normalize(b, dim=-1)


def check_extra(
    a: torch.Tensor, extra: torch.Tensor | None, extra_positives: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Validate the extra negatives of ``a`` ``(B, dim)``; return L2-normalised ``extra``
    ``(M, dim)`` and ``extra_positives`` ``(B, M)`` bool (all False when not given), or
    ``(None, None)`` when there are none."""
    if extra is None or extra.shape[0] == 0:
        return None, None
    if extra.dim() != 2 or extra.shape[1] != a.shape[1]:
        raise ValueError(f"extra must be (n, {a.shape[1]}), got {tuple(extra.shape)}")
    shape = (a.shape[0], extra.shape[0])
    if extra_positives is None:
        extra_positives = torch.zeros(shape, dtype=torch.bool, device=a.device)
    elif extra_positives.shape != shape:
        raise ValueError(f"extra_positives must be {shape}, got {tuple(extra_positives.shape)}")
    return F.normalize(extra, dim=-1), extra_positives.to(device=a.device, dtype=torch.bool)


def positive_mask(
    ids: torch.Tensor | None, n: int, device: torch.device, positives: torch.Tensor | None = None
) -> torch.Tensor:
    """``(n, n)`` bool: True where ``a[i]`` and ``b[j]`` are a positive pair — the diagonal
    always, rows sharing an id, and wherever the explicit ``positives`` mask is True."""
    mask = torch.eye(n, dtype=torch.bool, device=device)
    if ids is not None:
        mask = mask | (ids[:, None] == ids[None, :])  # (n, n)
    if positives is not None:
        if positives.shape != (n, n):
            raise ValueError(f"positives must be ({n}, {n}), got {tuple(positives.shape)}")
        mask = mask | positives.to(device=device, dtype=torch.bool)
    return mask


class PairLoss(nn.Module):
    """Base: subclasses implement :meth:`compute` → dict of scalar tensors with ``loss``."""

    name: str = "?"

    def forward(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        *,
        ids: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
        positives: torch.Tensor | None = None,
        extra: torch.Tensor | None = None,
        extra_positives: torch.Tensor | None = None,
        output_dict: bool = False,
        **kwargs,
    ):
        a, b = check_pair_inputs(a, b, ids, weights)
        pos = positive_mask(ids, a.shape[0], a.device, positives)  # (B, B)
        extra, extra_pos = check_extra(a, extra, extra_positives)  # (M, dim), (B, M) or None
        out = self.compute(a, b, pos=pos, ids=ids, weights=weights, extra=extra, extra_pos=extra_pos, **kwargs)
        return out if output_dict else out["loss"]

    def compute(
        self, a, b, *, pos, ids=None, weights=None, extra=None, extra_pos=None, **kwargs
    ) -> dict[str, torch.Tensor]:
        """``pos`` ``(B, B)`` bool: positive pairs (diagonal, shared ids, explicit mask);
        ``extra`` ``(M, dim)`` unit vectors and ``extra_pos`` ``(B, M)`` bool, or both None."""
        raise NotImplementedError


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` ``(B,)``, weighted by ``weights`` ``(B,)`` when given."""
    if weights is None:
        return values.mean()
    w = weights.to(values.dtype)
    return (values * w).sum() / w.sum().clamp(min=1e-12)
