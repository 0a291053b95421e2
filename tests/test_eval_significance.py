"""Paired randomisation test (:func:`kgjemb.eval.significance.paired_permutation_test`) on
constructed cases and against exact enumeration of every sign flip."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from kgjemb.eval.significance import paired_permutation_test


def _exact_p(a, b) -> float:
    d = np.asarray(a) - np.asarray(b)
    obs = abs(d.mean())
    means = [abs((np.array(s) * d).mean()) for s in itertools.product((-1, 1), repeat=len(d))]
    return float(np.mean([m >= obs - 1e-12 for m in means]))


def test_identical_systems_give_p_one():
    a = np.random.default_rng(0).random(40)
    t = paired_permutation_test(a, a.copy(), n_permutations=2000, seed=0)
    assert t.p_value == 1.0 and t.diff == 0.0 and t.n == 40


def test_a_clearly_better_system_gives_a_small_p():
    rng = np.random.default_rng(1)
    b = rng.random(60) * 0.6
    a = b + 0.15 + rng.normal(0, 0.05, 60)
    t = paired_permutation_test(a, b, n_permutations=5000, seed=0)
    assert t.diff == pytest.approx(0.15, abs=0.03)
    assert t.p_value == pytest.approx(1 / 5001)  # no flip reaches the observed difference
    assert paired_permutation_test(b, a, n_permutations=5000, seed=0).p_value == t.p_value  # two-sided


def test_noise_is_not_significant_and_the_test_is_seeded():
    rng = np.random.default_rng(2)
    a = rng.random(50)
    b = a + rng.normal(0, 0.1, 50) * rng.choice([-1, 1], 50)
    t1 = paired_permutation_test(a, b, n_permutations=3000, seed=5)
    t2 = paired_permutation_test(a, b, n_permutations=3000, seed=5)
    assert t1 == t2 and t1.p_value > 0.05


def test_matches_exact_enumeration_on_small_samples():
    rng = np.random.default_rng(3)
    for _ in range(3):
        a, b = rng.random(10), rng.random(10)
        b[:3] = a[:3]  # some ties (zero differences)
        want = _exact_p(a, b)
        got = paired_permutation_test(a, b, n_permutations=20000, seed=1).p_value
        assert got == pytest.approx(want, abs=0.015)


def test_bad_input():
    with pytest.raises(ValueError, match="paired"):
        paired_permutation_test([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        paired_permutation_test([0.1, float("nan")], [0.1, 0.2])
    assert np.isnan(paired_permutation_test([], []).p_value)
