"""MoCo-style negatives: a momentum (EMA) copy of an encoder and a FIFO queue of its keys.

``update_momentum(online, momentum_encoder, m)`` sets ``θ_k ← m·θ_k + (1-m)·θ_q`` (buffers
such as BatchNorm statistics are copied). :class:`MoCoLoss` scores each query ``a[i]``
against its key ``b[i]`` (the positive) and, as negatives, the other in-batch keys plus
every key in the queue (rows/entries sharing the query's id are masked out), with
cross-entropy over ``[positive, negatives] / temperature``. Keys are detached: gradients
flow into the queries only, as in MoCo. ``enqueue=True`` (default) pushes the batch keys
into the queue after the loss is computed (oldest entries overwritten).

>>> key_encoder = copy.deepcopy(model.audio); key_encoder.requires_grad_(False)  # doctest: +SKIP
>>> loss = moco(q=text_vecs, k=key_encoder(chunks), ids=track_ids)  # doctest: +SKIP
>>> update_momentum(model.audio, key_encoder, 0.99)  # doctest: +SKIP
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from kgjemb.train.losses.base import PairLoss, register_loss, weighted_mean

__all__ = ["MoCoLoss", "KeyQueue", "update_momentum"]


@torch.no_grad()
def update_momentum(online: nn.Module, momentum_encoder: nn.Module, m: float) -> None:
    """EMA update of ``momentum_encoder`` towards ``online`` (same architecture)."""
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {m}")
    online_params = dict(online.named_parameters())
    for name, p_k in momentum_encoder.named_parameters():
        p_k.mul_(m).add_(online_params[name].detach(), alpha=1.0 - m)
    online_buffers = dict(online.named_buffers())
    for name, b_k in momentum_encoder.named_buffers():
        b_k.copy_(online_buffers[name])


class KeyQueue(nn.Module):
    """Fixed-size FIFO ring buffer of ``(size, dim)`` keys with their ids (``-1`` = none)."""

    def __init__(self, dim: int, size: int) -> None:
        super().__init__()
        if size < 0 or dim <= 0:
            raise ValueError(f"need size >= 0 and dim > 0, got size={size}, dim={dim}")
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    def filled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored ``(n, dim)`` keys and ``(n,)`` ids, oldest first."""
        n = int(self.count)
        order = (torch.arange(n, device=self.keys.device) + int(self.ptr) - n) % max(self.size, 1)
        return self.keys[order], self.ids[order]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, ids: torch.Tensor | None = None) -> None:
        """Push ``(B, dim)`` keys (detached); when full the oldest are overwritten."""
        if self.size == 0:
            return
        keys = keys.detach()[-self.size :]  # a batch larger than the queue keeps its tail
        ids = torch.full((len(keys),), -1, dtype=torch.long, device=keys.device) if ids is None else ids[-self.size :]
        pos = (int(self.ptr) + torch.arange(len(keys), device=self.keys.device)) % self.size
        self.keys[pos] = keys.to(self.keys)
        self.ids[pos] = ids.to(self.ids)
        self.ptr.fill_((int(self.ptr) + len(keys)) % self.size)
        self.count.fill_(min(self.size, int(self.count) + len(keys)))


@register_loss("moco")
class MoCoLoss(PairLoss):
    """Queries vs (positive key, in-batch keys, queued keys); ``temperature`` 0.07 (learnable
    with ``learn_temperature=True``), ``queue_size`` 4096, ``dim`` of the features."""

    def __init__(
        self, *, dim: int = 256, queue_size: int = 4096, temperature: float = 0.07, learn_temperature: bool = False
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.queue = KeyQueue(dim, queue_size)
        value = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.logit_scale = nn.Parameter(value)
        else:
            self.register_buffer("logit_scale", value)

    def compute(self, a, b, *, pos, ids=None, weights=None, enqueue: bool = True):
        k = b.detach()  # (B, dim) keys carry no gradient
        n = a.shape[0]
        scale = self.logit_scale.clamp(0.0, math.log(100.0)).exp()
        same = pos  # (B, B) never negatives
        batch_logits = a @ k.T  # (B, B)
        pos = batch_logits.diagonal()[:, None]  # (B, 1)
        q_keys, q_ids = self.queue.filled()  # (Q, dim), (Q,)
        neg_queue = a @ F.normalize(q_keys, dim=-1).T  # (B, Q)
        logits = scale * torch.cat([pos, batch_logits, neg_queue], dim=1)  # (B, 1 + B + Q)
        # mask after scaling: -inf times the scale would give the temperature a NaN gradient
        masked = torch.zeros_like(logits, dtype=torch.bool)
        masked[:, 1 : n + 1] = same  # the positive itself and same-id keys in the batch
        if ids is not None and len(q_ids):
            masked[:, n + 1 :] = ids[:, None] == q_ids[None, :]
        logits = logits.masked_fill(masked, float("-inf"))
        per = -logits.log_softmax(dim=1)[:, 0]  # (B,)
        loss = weighted_mean(per, weights)
        if enqueue and self.training:
            self.queue.enqueue(k, ids)
        return {"loss": loss, "queued": self.queue.count.detach().clone().float()}
