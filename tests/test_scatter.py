"""The walk's sums (kgjemb.graph.scatter): the compiled scatter-sums return what numpy's
gathers and sorted group sums return, bit for bit, and leave their scratch clean; a walk
gives the same arrays either way, also from threads walking at once."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from kgjemb.graph import csr, scatter
from kgjemb.graph.proximity import TypedGraph, WalkConfig


def _clean(s: scatter.Scratch) -> bool:
    return not s.acc.any() and not s.seen.any()


def test_compiled_group_sum_is_numpys_bit_for_bit():
    rng = np.random.default_rng(3)
    for size, n in [(2000, 0), (2000, 1), (2000, 2), (2000, 9), (2000, 5000), (300_000, 20_000), (1 << 22, 3000)]:
        pool = scatter.ScratchPool(size, compiled=True)  # ids of 11 bits (one radix pass), 19 (two), 22 (two)
        keys = rng.integers(0, size if n else 1, n)
        w = rng.random(n) * 10.0 ** rng.integers(-8, 3, n)  # magnitudes that make the summing order show
        w[:1] = 0.0  # a zero sum is still a group
        with pool.take() as s:
            uniq, total = scatter.group_sum(keys, w, s)
            assert _clean(s)
        ref_u, ref_t = csr.group_sum(keys, w)
        np.testing.assert_array_equal(uniq, ref_u)
        np.testing.assert_array_equal(total, ref_t)
        assert uniq.dtype == np.int64


def test_compiled_push_is_the_gathered_group_sum_bit_for_bit():
    rng = np.random.default_rng(4)
    m = sp.random(300, 300, density=0.05, random_state=1, format="csr")
    m.sort_indices()
    indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    prob = m.data * 10.0 ** rng.integers(-6, 2, len(m.data))
    compiled, plain = scatter.ScratchPool(300, compiled=True), scatter.ScratchPool(300, compiled=False)
    for size in (0, 1, 40, 300):
        cur = np.sort(rng.choice(300, size, replace=False))
        val = rng.random(size)
        with compiled.take() as s:
            got_u, got_v = scatter.push(indptr, indices, prob, cur, val, 0.7, s)
            assert _clean(s)
        with plain.take() as s:
            assert s.acc is None
            ref_u, ref_v = scatter.push(indptr, indices, prob, cur, val, 0.7, s)
        owner, pos = csr.gather(indptr, cur)
        np.testing.assert_array_equal(ref_u, csr.unique(indices[pos]))
        np.testing.assert_array_equal(got_u, ref_u)
        np.testing.assert_array_equal(got_v, ref_v)


def test_scratch_pool_lends_one_scratch_per_taker_and_drops_a_failed_one():
    assert scatter.ScratchPool(scatter.COMPILED_FROM).compiled and not scatter.ScratchPool(10).compiled
    pool = scatter.ScratchPool(10, compiled=True)
    with pool.take() as a, pool.take() as b:
        assert a.acc is not b.acc and a.seen is not b.seen
    with pool.take() as c:  # returned ones are lent again
        assert c is a or c is b
    with pytest.raises(RuntimeError):
        with pool.take() as d:
            d.acc[3] = 1.0  # dirty, as a kernel stopped half-way would leave it
            raise RuntimeError
    assert all(s is not d for s in pool._free) and len(pool._free) == 1
    assert all(_clean(s) for s in pool._free)


def test_walks_are_the_same_compiled_or_not(ci_export):
    compiled = TypedGraph.from_export(ci_export, walks_kept=0, compiled=True)
    plain = TypedGraph.from_export(ci_export, walks_kept=0)
    assert compiled._scratch.compiled and not plain._scratch.compiled  # the CI graph is small
    tracks = ci_export.nodes["Track"]["id"].tolist()
    seeds = [{f"Artist:{a}": 1.0} for a in ci_export.nodes["Artist"]["id"].tolist()[:4]]
    seeds += [{f"Track:{t}": 1.0} for t in tracks[:: max(len(tracks) // 6, 1)]]
    seeds += [{f"Track:{tracks[0]}": 2.0, f"Track:{tracks[-1]}": 1.0}, {"Artist:nobody": 1.0}]
    for config in (WalkConfig(), WalkConfig(steps=6, min_mass=0.0), WalkConfig(max_frontier=3)):
        for seed in seeds:
            a, b = compiled.walk(seed, config), plain.walk(seed, config)
            pairs = zip(sum(a.steps + a.pushed, ()), sum(b.steps + b.pushed, ()))
            for x, y in [(a.nodes, b.nodes), (a.mass, b.mass), *pairs]:
                np.testing.assert_array_equal(x, y)
            assert len(a.steps) == len(b.steps) and len(a.pushed) == len(b.pushed)
    assert len(a.nodes) == 0 and all(_clean(s) for s in compiled._scratch._free)


def test_a_compiled_graph_is_ready_before_its_first_walk():
    """Making a compiled pool compiles (or loads) the kernels for the walk's own array types:
    walking afterwards adds no compiled signature (no first-query compile). In a fresh
    interpreter, so that no other test has compiled them already."""
    code = textwrap.dedent("""
        import json
        from kgjemb.graph import scatter
        from kgjemb.graph.frames import build_export
        from kgjemb.graph.proximity import TypedGraph
        nodes = {"Artist": [{"id": "a", "name": "A"}], "Album": [], "Attribute": [],
                 "Track": [{"id": f"t{i}", "title": f"T{i}"} for i in range(4)]}
        edges = {("Track", "BY", "Artist"): [{"src": f"t{i}", "dst": "a"} for i in range(4)]}
        g = TypedGraph.from_export(build_export(nodes, edges), compiled=True)
        before = [len(k.signatures) for k in scatter._kernels()]
        walk = g.walk({"Artist:a": 1.0})
        after = [len(k.signatures) for k in scatter._kernels()]
        print(json.dumps({"before": before, "after": after, "reached": len(walk.nodes)}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["reached"] == 5  # the artist and its four tracks
    assert min(got["before"]) >= 1 and got["after"] == got["before"], got


def test_walks_from_threads_at_once_equal_walks_one_at_a_time(ci_export):
    """Each running walk has its own scratch: walks in threads at once give what they give alone."""
    g = TypedGraph.from_export(ci_export, walks_kept=0, compiled=True)
    seeds = [f"Artist:{a}" for a in ci_export.nodes["Artist"]["id"].tolist()]
    alone = {s: g.walk({s: 1.0}).mass for s in seeds}
    got: dict[str, list[np.ndarray]] = {s: [] for s in seeds}

    def run():
        for _ in range(5):
            for s in seeds:
                got[s].append(g.walk({s: 1.0}).mass)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in seeds:
        assert len(got[s]) == 20
        for m in got[s]:
            np.testing.assert_array_equal(m, alone[s])
    assert 1 <= len(g._scratch._free) <= 4 and all(_clean(s) for s in g._scratch._free)
