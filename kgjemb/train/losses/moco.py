"""MoCo-style negatives: a momentum (EMA) copy of an encoder and a FIFO queue of its keys.

``update_momentum(online, momentum_encoder, m)`` sets ``θ_k ← m·θ_k + (1-m)·θ_q`` (buffers
such as BatchNorm statistics are copied). :class:`KeyQueue` holds the keys of recent
batches with the id of what each key encodes; the trainer hands them to a registered loss as
``extra`` negatives (masking the ones that are really positives). Keys carry no gradient.

>>> key_encoder = copy.deepcopy(model.audio).requires_grad_(False)  # doctest: +SKIP
>>> loss = get_loss("info_nce")(text, audio, extra=queue.filled()[0])  # doctest: +SKIP
>>> update_momentum(model.audio, key_encoder, 0.99); queue.enqueue(key_encoder(x), rows)  # doctest: +SKIP
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["KeyQueue", "update_momentum"]


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
