"""Loss contract (every registered loss runs the same checks) + fast paths vs brute-force
references."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.nn import functional as F

from kgjemb.train.losses import (
    LOSSES,
    KeyQueue,
    MultiTaskLoss,
    TripletLoss,
    get_loss,
    mine_negatives,
    update_momentum,
)

B, D = 12, 16


def _pairs(seed: int = 0, noise: float = 0.3):
    g = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(B, D, generator=g), dim=-1)
    b = F.normalize(a + noise * torch.randn(B, D, generator=g), dim=-1)
    ids = torch.tensor([0, 1, 2, 3, 3, 4, 5, 6, 7, 7, 8, 9])  # two shared identities
    return a, b, ids


class _MultiAdapter(torch.nn.Module):
    """Runs a MultiTaskLoss on one pair so it can share the contract."""

    def __init__(self):
        super().__init__()
        self.mt = MultiTaskLoss({"nce": (get_loss("info_nce"), 1.0), "tri": (get_loss("triplet", mining="hard"), 0.5)})

    def forward(self, a, b, ids=None, **extra):
        return self.mt({"nce": dict(a=a, b=b, ids=ids, **extra), "tri": dict(a=a, b=b, ids=ids, **extra)})


CASES = {
    "info_nce": lambda: get_loss("info_nce"),
    "info_nce-one-way": lambda: get_loss("info_nce", symmetric=False),
    "triplet-all": lambda: get_loss("triplet", mining="all"),
    "triplet-hard": lambda: get_loss("triplet", mining="hard"),
    "triplet-semi-hard": lambda: get_loss("triplet", mining="semi-hard"),
    "multitask": _MultiAdapter,
}


def test_every_registered_loss_is_under_contract():
    covered = {case.split("-")[0] for case in CASES}
    assert set(LOSSES) <= covered, sorted(set(LOSSES) - covered)


def test_registry_lists_choices():
    assert {"info_nce", "triplet"} <= set(LOSSES)
    with pytest.raises(ValueError, match="info_nce"):
        get_loss("nope")
    with pytest.raises(ValueError, match="semi-hard"):
        get_loss("triplet", mining="hardest")


@pytest.mark.parametrize("case", sorted(CASES))
class TestLossContract:
    def _run(self, loss, a, b, ids, **extra):
        return loss(a, b, ids=ids, **extra)

    def test_finite_scalar_and_gradients(self, case):
        loss = CASES[case]()
        a, b, ids = _pairs()
        a.requires_grad_(True)
        b.requires_grad_(True)
        value = self._run(loss, a, b, ids)
        assert value.dim() == 0 and torch.isfinite(value)
        value.backward()
        assert a.grad is not None and a.grad.abs().sum() > 0
        assert b.grad is not None and b.grad.abs().sum() > 0
        for name, p in loss.named_parameters():
            if "logit_scale" in name:
                assert p.grad is not None and p.grad.abs() > 0, name

    def test_batch_order_invariance(self, case):
        loss = CASES[case]()
        a, b, ids = _pairs(1)
        perm = torch.randperm(B, generator=torch.Generator().manual_seed(3))
        v1 = self._run(loss, a, b, ids)
        v2 = self._run(loss, a[perm], b[perm], ids[perm])
        assert torch.allclose(v1, v2, atol=1e-5), (v1, v2)

    def test_aligned_lower_than_shuffled(self, case):
        loss = CASES[case]()
        a, b, ids = _pairs(2, noise=0.2)
        shuffled = b[torch.roll(torch.arange(B), 5)]
        assert self._run(loss, a, b, ids) < self._run(loss, a, shuffled, ids)

    def test_extra_negatives(self, case):
        """Extra negatives marked as positives change nothing; each anchor's own positive
        offered again as an extra negative never makes the loss smaller."""
        loss = CASES[case]()
        a, b, ids = _pairs(12, noise=0.5)
        base = self._run(loss, a, b, ids)
        far = -a[:5]  # (5, D)
        masked = self._run(loss, a, b, ids, extra=far, extra_positives=torch.ones(B, 5, dtype=torch.bool))
        assert torch.allclose(masked, base, atol=1e-6)
        assert torch.allclose(self._run(loss, a, b, ids, extra=far[:0]), base, atol=1e-6)  # none at all
        # not for "all" (a mean over negatives: one more can lower it) nor "semi-hard" (an
        # anchor with no farther negative switches from its farthest one to the extra)
        if case not in ("triplet-all", "triplet-semi-hard"):
            twin = self._run(loss, a, b, ids, extra=b, extra_positives=~torch.eye(B, dtype=torch.bool))
            assert twin >= base - 1e-6


def test_info_nce_matches_cross_entropy_without_ids():
    a, b, _ = _pairs(4)
    loss = get_loss("info_nce", init_logit_scale=math.log(10.0))
    logits = 10.0 * a @ b.T
    target = torch.arange(B)
    ref = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert torch.allclose(loss(a, b), ref, atol=1e-6)


def test_info_nce_temperature_clamped():
    loss = get_loss("info_nce", init_logit_scale=10.0)  # above ln(100)
    out = loss(*_pairs()[:2], output_dict=True)
    assert out["temperature"].item() == pytest.approx(0.01, rel=1e-5)


def _semi_hard_reference(dist, d_pos, neg):
    out = []
    for i in range(dist.shape[0]):
        cands = [dist[i, j].item() for j in range(dist.shape[1]) if neg[i, j]]
        farther = [d for d in cands if d > d_pos[i].item()]
        out.append(min(farther) if farther else max(cands))
    return torch.tensor(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_semi_hard_and_hard_mining_vs_loop(seed):
    a, b, ids = _pairs(seed, noise=0.8)
    dist = 1.0 - a @ b.T
    d_pos = dist.diagonal()
    neg = ids[:, None] != ids[None, :]
    fast = mine_negatives(dist, d_pos, neg, "semi-hard")
    assert torch.allclose(fast, _semi_hard_reference(dist, d_pos, neg), atol=1e-6)
    hard = mine_negatives(dist, d_pos, neg, "hard")
    ref = torch.tensor([min(dist[i, j].item() for j in range(B) if neg[i, j]) for i in range(B)])
    assert torch.allclose(hard, ref, atol=1e-6)


def test_random_mining_is_valid_and_averages_to_all():
    a, b, ids = _pairs(6, noise=0.8)
    dist = 1.0 - a @ b.T
    neg = ids[:, None] != ids[None, :]
    g = torch.Generator().manual_seed(0)
    picked = mine_negatives(dist, dist.diagonal(), neg, "random", g)
    # every pick is the distance of some valid negative of that anchor
    for i in range(B):
        assert any(abs(picked[i] - dist[i, j]) < 1e-7 for j in range(B) if neg[i, j])
    sampled = TripletLoss(mining="random", seed=0, symmetric=False)
    mean = torch.stack([sampled(a, b, ids=ids) for _ in range(400)]).mean()
    expected = TripletLoss(mining="all", symmetric=False)(a, b, ids=ids)
    assert mean == pytest.approx(expected.item(), abs=0.02)


def test_triplet_positive_sharing_id_is_never_a_negative():
    a, b, _ = _pairs(7)
    ids = torch.arange(B)
    ids[1] = 0
    b2 = b.clone()
    b2[1] = a[0]  # row 1's key equals anchor 0: would be the hardest negative for anchor 0
    loss = TripletLoss(mining="hard", symmetric=False)
    with_ids = loss(a, b2, ids=ids, output_dict=True)
    without = loss(a, b2, output_dict=True)
    assert with_ids["loss"] < without["loss"]


def test_moco_queue_fifo_and_momentum():
    q = KeyQueue(dim=2, size=3)
    q.enqueue(torch.tensor([[1.0, 0], [2, 0]]), torch.tensor([1, 2]))
    q.enqueue(torch.tensor([[3.0, 0], [4, 0]]), torch.tensor([3, 4]))
    keys, ids = q.filled()
    assert ids.tolist() == [2, 3, 4] and keys[:, 0].tolist() == [2.0, 3.0, 4.0]

    online = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    momentum = copy.deepcopy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    before = [p.clone() for p in momentum.parameters()]
    update_momentum(online, momentum, 0.9)
    for p0, p_on, p_k in zip(before, online.parameters(), momentum.parameters()):
        assert torch.allclose(p_k, 0.9 * p0 + 0.1 * p_on)


def test_multitask_parts_and_weights():
    a, b, ids = _pairs(9)
    nce, tri = get_loss("info_nce"), get_loss("triplet")
    mt = MultiTaskLoss({"nce": (nce, 1.0), "tri": (tri, 0.25)})
    out = mt({"nce": dict(a=a, b=b), "tri": dict(a=a, b=b, ids=ids)}, output_dict=True)
    assert torch.allclose(out["loss"], out["nce"] + 0.25 * out["tri"])
    assert torch.allclose(out["tri"], tri(a, b, ids=ids))
    with pytest.raises(ValueError, match="nce"):
        mt({"other": dict(a=a, b=b)})


@pytest.mark.parametrize("name", ["info_nce", "triplet"])
def test_explicit_positives_mask_equals_ids(name):
    a, b, ids = _pairs(10)
    loss = get_loss(name)
    same = ids[:, None] == ids[None, :]
    assert torch.allclose(loss(a, b, ids=ids), loss(a, b, positives=same), atol=1e-6)


def test_info_nce_masked_positives_and_extra_brute_force():
    """A positive pair off the diagonal is dropped from the softmax (neither target nor
    negative); extra negatives join the a→b softmax only, less those marked positive."""
    a, b, _ = _pairs(11)
    g = torch.Generator().manual_seed(12)
    extra = F.normalize(torch.randn(4, D, generator=g), dim=-1)
    pos = torch.eye(B, dtype=torch.bool)
    pos[0, 3] = pos[5, 1] = True  # b3 is not a negative of a0; b1 not of a5 (nor a5 of b1)
    extra_pos = torch.zeros(B, 4, dtype=torch.bool)
    extra_pos[2, 0] = True
    loss = get_loss("info_nce", init_logit_scale=math.log(20.0))
    ref_a, ref_b = [], []
    for i in range(B):
        cols = [j for j in range(B) if j == i or not pos[i, j]]
        logits = torch.cat([20.0 * a[i] @ b[cols].T, 20.0 * a[i] @ extra[~extra_pos[i]].T])
        ref_a.append(-(logits[cols.index(i)] - torch.logsumexp(logits, 0)))
        rows = [j for j in range(B) if j == i or not pos[j, i]]
        logits = 20.0 * b[i] @ a[rows].T
        ref_b.append(-(logits[rows.index(i)] - torch.logsumexp(logits, 0)))
    ref = (torch.stack(ref_a).mean() + torch.stack(ref_b).mean()) / 2
    got = loss(a, b, positives=pos, extra=extra, extra_positives=extra_pos)
    assert torch.allclose(got, ref, atol=1e-5)
    one_way = get_loss("info_nce", init_logit_scale=math.log(20.0), symmetric=False)
    assert torch.allclose(one_way(a, b, positives=pos, extra=extra, extra_positives=extra_pos),
                          torch.stack(ref_a).mean(), atol=1e-5)
    with pytest.raises(ValueError, match="positives"):
        loss(a, b, positives=pos[:3])
    with pytest.raises(ValueError, match="extra_positives"):
        loss(a, b, extra=extra, extra_positives=extra_pos[:, :2])


def test_triplet_extra_negatives_brute_force():
    """Hard mining over in-batch and extra candidates, one way, against a loop."""
    a, b, ids = _pairs(13, noise=0.6)
    g = torch.Generator().manual_seed(14)
    extra = F.normalize(torch.randn(5, D, generator=g), dim=-1)
    loss = TripletLoss(margin=0.3, mining="hard", symmetric=False)
    ref = []
    for i in range(B):
        d_pos = 1 - a[i] @ b[i]
        cands = [1 - a[i] @ b[j] for j in range(B) if ids[j] != ids[i]] + [1 - a[i] @ e for e in extra]
        ref.append(torch.clamp(d_pos - min(cands) + 0.3, min=0))
    assert torch.allclose(loss(a, b, ids=ids, extra=extra), torch.stack(ref).mean(), atol=1e-6)


def test_shared_logit_scale_is_the_owners_parameter():
    owner = torch.nn.Parameter(torch.tensor(math.log(5.0)))
    loss = get_loss("info_nce", logit_scale=owner)
    a, b, _ = _pairs(15)
    loss(a, b).backward()
    assert owner.grad is not None and owner.grad != 0
    with pytest.raises(ValueError, match="scalar"):
        get_loss("info_nce", logit_scale=torch.nn.Parameter(torch.zeros(2)))
