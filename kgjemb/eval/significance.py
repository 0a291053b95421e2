"""Paired significance of a difference between two systems on the same queries.

:func:`paired_permutation_test` is the paired randomisation (sign-flip permutation) test
of Fisher / Smucker et al. (CIKM 2007): under the null hypothesis that the two systems are
exchangeable, each query's difference is as likely to have either sign, so the observed
mean difference is compared with the means over ``n_permutations`` seeded random sign
flips. Two-sided; the p-value is (1 + #{|permuted mean| ≥ |observed mean|}) /
(1 + n_permutations), so it is never 0 and identical systems get p = 1.

>>> paired_permutation_test([0.5, 0.7, 0.9], [0.5, 0.7, 0.9]).p_value
1.0
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["PairedTest", "paired_permutation_test"]


@dataclass(frozen=True)
class PairedTest:
    """``mean_a``, ``mean_b``: the two systems' means over the ``n`` paired queries;
    ``diff`` = mean_a − mean_b; ``p_value``: two-sided, from ``n_permutations`` sign flips."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    p_value: float
    n_permutations: int

    def to_dict(self) -> dict:
        return {"n": self.n, "mean_a": self.mean_a, "mean_b": self.mean_b, "diff": self.diff,
                "p_value": self.p_value, "n_permutations": self.n_permutations}


def paired_permutation_test(a: Sequence[float], b: Sequence[float], *, n_permutations: int = 10000,
                            seed: int = 0, chunk: int = 1000) -> PairedTest:
    """Paired randomisation test of mean(a) vs mean(b), where ``a[i]`` and ``b[i]`` are
    the two systems' scores on query i (e.g. nDCG@10). ``n_permutations`` (10,000) seeded
    sign flips, drawn ``chunk`` at a time. An empty pair gives p = NaN."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be 1-d and paired, got shapes {x.shape} and {y.shape}")
    if n_permutations <= 0:
        raise ValueError(f"n_permutations must be positive, got {n_permutations}")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("scores contain NaN: leave out queries without a score first")
    n = len(x)
    if n == 0:
        return PairedTest(0, float("nan"), float("nan"), float("nan"), float("nan"), n_permutations)
    d = x - y  # (n,)
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, observed)
    rng = np.random.default_rng(seed)
    extreme, done = 0, 0
    while done < n_permutations:
        m = min(chunk, n_permutations - done)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1  # (m, n) in {-1, +1}
        means = np.abs(signs @ d) / n  # (m,)
        extreme += int((means >= observed - tol).sum())
        done += m
    return PairedTest(n=n, mean_a=float(x.mean()), mean_b=float(y.mean()), diff=float(d.mean()),
                      p_value=(1 + extreme) / (1 + n_permutations), n_permutations=n_permutations)
