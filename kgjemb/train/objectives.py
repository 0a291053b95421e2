"""The trainer's objectives on top of the loss registry: InfoNCE that knows which in-batch
"negatives" are really positives.

With graph positives and attribute views, a batch is full of false negatives: two tracks
by one artist, two slow pieces for the caption "slow". :func:`masked_info_nce` removes
them from the softmax denominator (``mask[i, j] = True`` drops column j for row i; the
diagonal is the positive and is never dropped), which is what the plain registry loss
cannot know. :func:`swap_margin` scores a true caption against its attribute-swap twin.

>>> loss = masked_info_nce(audio, text, logit_scale, mask)  # scalar
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["masked_info_nce", "swap_margin", "hardest_triplet"]


def _masked_ce(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy with target i for row i over columns not masked."""
    n = logits.shape[0]
    target = torch.arange(n, device=logits.device)
    if mask is not None:
        keep_diag = torch.zeros_like(mask)
        keep_diag[target, target] = True
        logits = logits.masked_fill(mask & ~keep_diag, float("-inf"))
    return F.cross_entropy(logits, target)


def masked_info_nce(
    q: torch.Tensor,
    k: torch.Tensor,
    logit_scale: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    extra_k: torch.Tensor | None = None,
    extra_mask: torch.Tensor | None = None,
    symmetric: bool = True,
) -> torch.Tensor:
    """Symmetric InfoNCE between rows of ``q`` ``(n, d)`` and ``k`` ``(n, d)`` (unit
    vectors; row i of each is a pair), temperature ``exp(logit_scale)`` clamped to 100.

    ``mask`` ``(n, n)`` bool: True where column j must not count as a negative for row i.
    ``extra_k`` ``(m, d)``: further negatives for the q→k direction only (hard negatives,
    a queue), with ``extra_mask`` ``(n, m)`` likewise.
    """
    if q.shape != k.shape:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must match")
    scale = logit_scale.exp().clamp(max=100.0)
    logits = scale * q @ k.T  # (n, n)
    full_mask = mask
    if extra_k is not None and len(extra_k):
        extra = scale * q @ extra_k.T  # (n, m)
        logits_qk = torch.cat([logits, extra], dim=1)  # (n, n + m)
        if mask is not None or extra_mask is not None:
            m1 = mask if mask is not None else torch.zeros_like(logits, dtype=torch.bool)
            m2 = extra_mask if extra_mask is not None else torch.zeros_like(extra, dtype=torch.bool)
            full_mask = torch.cat([m1, m2], dim=1)
    else:
        logits_qk = logits
    if full_mask is not None and full_mask.shape[1] > full_mask.shape[0]:
        # cross_entropy over (n, n+m) with targets on the first n columns
        n = logits.shape[0]
        target = torch.arange(n, device=logits.device)
        keep = torch.zeros_like(full_mask)
        keep[target, target] = True
        loss_qk = F.cross_entropy(logits_qk.masked_fill(full_mask & ~keep, float("-inf")), target)
    else:
        loss_qk = _masked_ce(logits_qk, full_mask)
    if not symmetric:
        return loss_qk
    loss_kq = _masked_ce(logits.T, mask.T if mask is not None else None)
    return 0.5 * (loss_qk + loss_kq)


def swap_margin(a: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Two-way softmax: audio ``a`` ``(n, d)`` must prefer its caption ``pos`` ``(n, d)``
    over the swapped caption ``neg`` ``(n, d)``."""
    scale = logit_scale.exp().clamp(max=100.0)
    logits = scale * torch.stack([(a * pos).sum(-1), (a * neg).sum(-1)], dim=1)  # (n, 2)
    return F.cross_entropy(logits, torch.zeros(len(a), dtype=torch.long, device=a.device))


def hardest_triplet(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None, *, margin: float = 0.2, extra_k: torch.Tensor | None = None
) -> torch.Tensor:
    """Triplet hinge with the hardest valid in-batch negative per anchor:
    ``max(0, margin + max_j q_i·k_j − q_i·k_i)`` over columns not masked (and ``extra_k``)."""
    sim = q @ k.T  # (n, n)
    n = sim.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=q.device)
    bad = eye if mask is None else (mask | eye)
    neg = sim.masked_fill(bad, float("-inf")).amax(dim=1)  # (n,)
    if extra_k is not None and len(extra_k):
        neg = torch.maximum(neg, (q @ extra_k.T).amax(dim=1))
    pos = sim.diagonal()
    valid = torch.isfinite(neg)
    if not valid.any():
        return sim.new_zeros(())
    return F.relu(margin + neg[valid] - pos[valid]).mean()
