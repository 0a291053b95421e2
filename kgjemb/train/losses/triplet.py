"""Triplet hinge loss with in-batch negative mining.

For anchor ``a[i]`` the positive is ``b[i]``; negatives are ``b[j]`` with a different id.
Distance is cosine distance ``1 - a·b`` on unit vectors; per anchor
``max(0, d(a_i, b_i) - d(a_i, b_n) + margin)`` for the mined negative ``n``:

- ``random``: one valid negative drawn uniformly (``generator`` for reproducibility);
- ``all``: the mean over all valid negatives (the expectation of ``random``, deterministic);
- ``hard``: the closest valid negative;
- ``semi-hard`` (FaceNet / TF ``triplet_semihard_loss``): the closest negative *farther*
  than the positive; if there is none, the farthest negative.

``symmetric=True`` (default) also uses ``b`` as anchors against ``a`` and averages.
``extra`` negatives (graph hard negatives) are candidates of the ``a → b`` direction only.
Anchors without any valid negative contribute 0. ``random`` draws from ``generator`` when
given, else from torch's global RNG (which the trainer seeds per epoch, so a resumed run
draws what an uninterrupted one would).

>>> TripletLoss(margin=0.2, mining="semi-hard")(audio, text)  # doctest: +SKIP
"""
from __future__ import annotations

import torch

from kgjemb.train.losses.base import PairLoss, register_loss, weighted_mean

__all__ = ["TripletLoss", "MINING", "mine_negatives"]

MINING = ("random", "all", "hard", "semi-hard")


def mine_negatives(
    dist: torch.Tensor, d_pos: torch.Tensor, neg: torch.Tensor, mining: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Chosen negative distance per anchor ``(B,)`` (``nan`` where no negative exists,
    and for ``all`` the per-anchor hinge is computed by the caller instead).

    dist ``(B, C)`` anchor→candidate distances, d_pos ``(B,)``, neg ``(B, C)`` valid-negative mask.
    """
    inf = torch.tensor(float("inf"), dtype=dist.dtype, device=dist.device)
    if mining == "hard":
        return torch.where(neg, dist, inf).amin(dim=1)  # (B,)
    if mining == "semi-hard":
        farther = neg & (dist > d_pos[:, None])  # (B, B)
        closest_farther = torch.where(farther, dist, inf).amin(dim=1)  # (B,)
        farthest = torch.where(neg, dist, -inf).amax(dim=1)  # (B,)
        return torch.where(farther.any(dim=1), closest_farther, farthest)
    if mining == "random":
        noise = torch.rand(dist.shape, generator=generator, device="cpu").to(dist.device)  # (B, C)
        pick = torch.where(neg, noise, -1.0).argmax(dim=1)  # (B,) uniform among valid
        return dist.gather(1, pick[:, None]).squeeze(1)
    raise ValueError(f"unknown mining {mining!r}; choose from {list(MINING)}")


@register_loss("triplet")
class TripletLoss(PairLoss):
    """Triplet hinge; ``margin`` 0.2, ``mining`` semi-hard, ``symmetric`` True."""

    def __init__(
        self, *, margin: float = 0.2, mining: str = "semi-hard", symmetric: bool = True, seed: int | None = None
    ) -> None:
        super().__init__()
        if mining not in MINING:
            raise ValueError(f"unknown mining {mining!r}; choose from {list(MINING)}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin, self.mining, self.symmetric = float(margin), mining, symmetric
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, symmetric={self.symmetric}"

    def _one_way(self, a, b, neg, weights, extra=None, extra_pos=None) -> tuple[torch.Tensor, torch.Tensor]:
        dist = 1.0 - a @ b.T  # (B, B)
        d_pos = dist.diagonal()  # (B,)
        if extra is not None:
            dist = torch.cat([dist, 1.0 - a @ extra.T], dim=1)  # (B, B + M)
            neg = torch.cat([neg, ~extra_pos], dim=1)  # (B, B + M)
        has_neg = neg.any(dim=1)  # (B,)
        if self.mining == "all":
            hinge = (d_pos[:, None] - dist + self.margin).clamp(min=0) * neg  # (B, C)
            per = hinge.sum(1) / neg.sum(1).clamp(min=1)  # (B,)
        else:
            d_neg = mine_negatives(dist, d_pos, neg, self.mining, self.generator)  # (B,)
            per = torch.where(has_neg, (d_pos - d_neg + self.margin).clamp(min=0), torch.zeros_like(d_pos))
        active = ((per > 0) & has_neg).float().mean()
        return weighted_mean(per, weights), active

    def compute(self, a, b, *, pos, ids=None, weights=None, extra=None, extra_pos=None):
        neg = ~pos  # (B, B)
        a2b, active = self._one_way(a, b, neg, weights, extra, extra_pos)
        if not self.symmetric:
            return {"loss": a2b, "a2b": a2b, "active": active}
        b2a, active_b = self._one_way(b, a, neg.T, weights)
        return {"loss": (a2b + b2a) / 2, "a2b": a2b, "b2a": b2a, "active": (active + active_b) / 2}
