"""Graph proximity (kgjemb.graph.proximity): the typed personalised walk against a hand
computation on a 6-node graph, paths, attribute profiles."""
from __future__ import annotations

import numpy as np
import pytest

from kgjemb.graph.frames import build_export
from kgjemb.graph.proximity import RelWeights, TypedGraph, WalkConfig


def six_nodes():
    """t1, t2 (a version of t1), t3 by artist a1; t1, t3 on album b1; a1 INFLUENCED_BY a2.

        t2 -VERSION_OF-> t1 -BY-> a1 <-BY- t3      a1 -INFLUENCED_BY-> a2
                         t1 -ON-> b1 <-ON- t3
    """
    nodes = {
        "Artist": [{"id": "a1", "name": "A One"}, {"id": "a2", "name": "A Two"}],
        "Album": [{"id": "b1", "title": "B"}],
        "Track": [{"id": "t1", "title": "T1"}, {"id": "t2", "title": "T2"}, {"id": "t3", "title": "T3"}],
        "Attribute": [{"id": "instrument:piano", "name": "piano", "kind": "instrument"}],
    }
    edges = {
        ("Track", "BY", "Artist"): [{"src": "t1", "dst": "a1"}, {"src": "t3", "dst": "a1"}],
        ("Track", "ON", "Album"): [{"src": "t1", "dst": "b1"}, {"src": "t3", "dst": "b1"}],
        ("Track", "VERSION_OF", "Track"): [{"src": "t2", "dst": "t1"}],
        ("Artist", "INFLUENCED_BY", "Artist"): [{"src": "a1", "dst": "a2"}],
        ("Track", "HAS", "Attribute"): [{"src": "t1", "dst": "instrument:piano", "weight": 1.0}],
    }
    return build_export(nodes, edges)


def hand_walk(restart: float, steps: int, w: RelWeights) -> dict[str, float]:
    """The same walk written out node by node (dicts, no numpy), from t1."""
    # typed transitions: at a node, type share ∝ type weight × (its edges there)^γ, uniform
    # within a type (all edge weights are 1)
    nbrs = {
        "t1": {"BY": ["a1"], "ON": ["b1"], "VERSION_OF": ["t2"]},
        "t2": {"VERSION_OF": ["t1"]},
        "t3": {"BY": ["a1"], "ON": ["b1"]},
        "a1": {"BY": ["t1", "t3"], "INFLUENCED_BY": ["a2"]},
        "a2": {"INFLUENCED_BY": ["a1"]},
        "b1": {"ON": ["t1", "t3"]},
    }
    P: dict[str, dict[str, float]] = {}
    for u, types in nbrs.items():
        g = w.type_degree_power
        z = sum(w.of(t) * len(vs) ** g for t, vs in types.items())
        P[u] = {}
        for t, vs in types.items():
            for v in vs:
                P[u][v] = P[u].get(v, 0.0) + w.of(t) * len(vs) ** g / z / len(vs)
    x = {"t1": 1.0}
    score = {k: restart * v for k, v in x.items()}
    for _ in range(steps):
        nxt: dict[str, float] = {}
        for u, m in x.items():
            for v, p in P[u].items():
                nxt[v] = nxt.get(v, 0.0) + (1 - restart) * m * p
        for v, m in nxt.items():
            score[v] = score.get(v, 0.0) + restart * m
        x = nxt
    return score


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("steps", [1, 2, 4])
def test_walk_matches_hand_computation(steps, gamma):
    w = RelWeights(type_degree_power=gamma)
    g = TypedGraph.from_export(six_nodes(), w)
    res = g.walk({"Track:t1": 1.0}, WalkConfig(restart=0.3, steps=steps))
    want = hand_walk(0.3, steps, w)
    keys = {"t1": "Track:t1", "t2": "Track:t2", "t3": "Track:t3", "a1": "Artist:a1", "a2": "Artist:a2",
            "b1": "Album:b1"}
    got = dict(zip(keys, res.score_of(list(keys.values()))))
    for k in keys:
        assert got[k] == pytest.approx(want.get(k, 0.0), rel=1e-9, abs=1e-12), k
    # the attribute node is never walked
    assert res.score_of(["Attribute:instrument:piano"])[0] == 0.0


def test_version_outranks_album_and_artist_neighbours():
    g = TypedGraph.from_export(six_nodes())
    res = g.walk({"Track:t1": 1.0})
    t2, t3 = res.score_of(["Track:t2", "Track:t3"])
    assert t2 > t3 > 0


def test_path_names_the_heaviest_route():
    g = TypedGraph.from_export(six_nodes())
    res = g.walk({"Track:t1": 1.0})
    assert res.path("Track:t2") == ["Track:t2", "-VERSION_OF->", "Track:t1"]
    path = res.path("Artist:a2")
    assert path[0] == "Artist:a2" and path[-1] == "Track:t1"
    # read left to right, arrows follow the stored direction: a1 INFLUENCED_BY a2, t1 BY a1
    assert path == ["Artist:a2", "<-INFLUENCED_BY-", "Artist:a1", "<-BY-", "Track:t1"]
    assert res.path("Track:t1") == ["Track:t1"]
    assert res.path("Track:nope") == []
    # all keys at once (what a query's hits do) trace the same paths as one at a time
    keys = ["Artist:a2", "Track:nope", "Track:t2", "Track:t1", "Artist:a2", "Track:t3", "Album:al1", "Artist:a1"]
    assert res.paths(keys) == [res.path(k) for k in keys]
    assert res.paths([]) == []
    # the anchor each path ends at, from one anchor (no path traced) and from two
    for walk in (res, g.walk({"Track:t1": 1.0, "Artist:a2": 1.0})):
        assert walk.ends(keys) == [p[-1] if len(p) > 1 else None for p in walk.paths(keys)]
    assert res.ends(keys)[:4] == ["Track:t1", None, "Track:t1", None]


def test_zero_weight_switches_a_type_off():
    g = TypedGraph.from_export(six_nodes(), RelWeights(version_of=0.0))
    res = g.walk({"Track:t1": 1.0})
    assert res.score_of(["Track:t2"])[0] == 0.0


def test_attribute_profiles_and_track_attributes():
    g = TypedGraph.from_export(six_nodes())
    prof = g.profile("Track:t1")
    assert prof is not None and prof.shape == (1,) and prof[0] == pytest.approx(1.0)
    assert g.profile("Track:t3") is None  # no attribute known
    a1 = g.profile("Artist:a1")  # mean over t1 (piano) and t3 (none), normalised
    assert a1 is not None and a1[0] == pytest.approx(1.0)
    rows = np.array([0, 2])  # t1, t3
    m = g.track_attributes(rows).toarray()
    assert m.tolist() == [[1.0], [0.0]]


def test_frontier_cap_keeps_the_heaviest():
    g = TypedGraph.from_export(six_nodes())
    full = g.walk({"Track:t1": 1.0}, WalkConfig(steps=3))
    capped = g.walk({"Track:t1": 1.0}, WalkConfig(steps=3, max_frontier=1))
    assert capped.score_of(["Track:t1"])[0] <= full.score_of(["Track:t1"])[0]
    assert capped.score_of(["Track:t2"])[0] > 0


def test_relations_of_the_query_snapshot():
    """What relation queries ask the graph: influence both ways, versions, the album."""
    from kgjemb.query.snapshot import GraphSnapshot

    snap = GraphSnapshot(six_nodes(), ["t1", "t2", "t3"])
    assert snap.related("influenced_by", "Artist:a2") == ["Artist:a1"]
    assert snap.related("influenced", "Artist:a1") == ["Artist:a2"]
    assert snap.related("versions", "Track:t1") == ["Track:t2"]
    assert snap.related("versions", "Track:t2") == ["Track:t1"]
    assert snap.related("same_album", "Track:t3") == ["Album:b1"]
    assert snap.related("members", "Artist:a1") == [] and snap.related("similar_artists", "Artist:a1") == []


def test_min_mass_stops_light_nodes_from_pushing():
    """A node lighter than ``min_mass`` keeps its score but pushes no further: with every
    node after the seed too light, three steps score like one."""
    g = TypedGraph.from_export(six_nodes())
    one = g.walk({"Track:t1": 1.0}, WalkConfig(steps=1))
    stopped = g.walk({"Track:t1": 1.0}, WalkConfig(steps=3, min_mass=0.99))
    np.testing.assert_array_equal(stopped.nodes, one.nodes)
    np.testing.assert_allclose(stopped.mass, one.mass, atol=1e-12)
    exact = g.walk({"Track:t1": 1.0}, WalkConfig(steps=3))
    assert len(exact.nodes) > len(one.nodes)
    with pytest.raises(ValueError, match="min_mass"):
        WalkConfig(min_mass=1.0)


def test_track_attributes_and_profiles_match_the_sparse_formula(ci_export):
    """The CSR-gather versions of track_attributes / profile give what the sparse-matrix
    formula gives on the CI catalog: every track's attribute weights bit for bit, every
    artist's and album's profile to the last bits of a float sum."""
    g = TypedGraph.from_export(ci_export)

    def reference(rows, via_artist=0.5):
        via = (g.track_artist[rows] @ g.artist_attr) * via_artist
        via.data = np.minimum(via.data, via_artist)
        return g.track_attr[rows].maximum(via).toarray()

    rows = np.arange(g.track_attr.shape[0])
    for via_artist in (0.5, 0.2, 0.0):
        got = g.track_attributes(rows, via_artist=via_artist)
        np.testing.assert_array_equal(got.toarray(), reference(rows, via_artist))
        assert (got.data > 0).all()  # no stored zeros: a stored entry means "known"
    picked = rows[::7][::-1]  # any order
    np.testing.assert_array_equal(g.track_attributes(picked).toarray(), reference(picked))
    checked = 0
    for label, of in (("Artist", g.artist_tracks), ("Album", g.album_tracks)):
        for row, node_id in enumerate(ci_export.nodes[label]["id"].tolist()):
            tracks = of[row].indices
            vec = reference(tracks).mean(axis=0) if len(tracks) else np.zeros(g.track_attr.shape[1])
            if label == "Artist":
                vec = vec + g.artist_attr[row].toarray().ravel()
            got = g.profile(f"{label}:{node_id}")
            if not np.linalg.norm(vec) > 0:
                assert got is None
                continue
            np.testing.assert_allclose(got, vec / np.linalg.norm(vec), rtol=0, atol=1e-12)
            checked += 1
    assert checked > 20


def test_reverse_entries_pair_every_walked_edge_with_its_other_direction(ci_export):
    """``reverse`` maps each stored entry u → v (one per typed edge) to the entry v → u of the
    same edge, which the explanation paths read instead of searching u's row."""
    g = TypedGraph.from_export(ci_export)
    n = len(g.indices)
    assert n > 100
    src = np.repeat(np.arange(g.n), np.diff(g.indptr))  # (n,) owner of each entry
    r = g.reverse.astype(np.int64)
    np.testing.assert_array_equal(r[r], np.arange(n))  # an involution
    np.testing.assert_array_equal(g.indices[r], src)  # v → u ...
    np.testing.assert_array_equal(src[r], g.indices)
    fwd = g.edge_fwd[g.edge_of]  # ... of the same relationship, the other way
    assert (fwd[r] != fwd).all()
    assert [g.edge_rel[e] for e in g.edge_of[r]] == [g.edge_rel[e] for e in g.edge_of]


def test_walks_are_kept_per_seeds_and_config_within_a_bound(ci_export):
    """A repeated walk is the kept one (read-only, equal to a fresh walk); other seeds or
    another config walk anew; the kept walks never hold more than ``walks_kept`` entries,
    least recently used dropped first; walks_kept=0 keeps none."""
    g = TypedGraph.from_export(ci_export)
    anchors = [f"Artist:{a}" for a in ci_export.nodes["Artist"]["id"].tolist()[:6]]
    first = g.walk({anchors[0]: 1.0})
    assert g.walk({anchors[0]: 1.0}) is first
    assert g.walk({anchors[0]: 1.0}, WalkConfig(steps=2)) is not first
    with pytest.raises(ValueError):
        first.mass[0] = 1.0  # shared: nobody may write into it
    fresh = TypedGraph.from_export(ci_export).walk({anchors[0]: 1.0})
    np.testing.assert_array_equal(fresh.nodes, first.nodes)
    np.testing.assert_array_equal(fresh.mass, first.mass)
    sizes = [TypedGraph.from_export(ci_export).walk({a: 1.0}).entries for a in anchors]
    assert min(sizes) > 0
    g = TypedGraph.from_export(ci_export, walks_kept=sizes[0] + sizes[1] + sizes[2])
    kept = [g.walk({a: 1.0}) for a in anchors[:3]]
    assert g.walk({anchors[0]: 1.0}) is kept[0]  # all three fit; anchor 0 is now the most recent
    g.walk({anchors[3]: 1.0})  # drops the least recently used: anchor 1 (and 2 when 3 is larger)
    assert g._walk_entries <= g.walks_kept
    assert g.walk({anchors[1]: 1.0}) is not kept[1]
    assert g._walk_entries <= g.walks_kept
    assert g._walk_entries == sum(w.entries for w in g._walks.values())
    for i in range(g.walks_kept + 1):  # empty walks (unknown seeds) count too: still bounded
        g.walk({f"Artist:nobody-{i}": 1.0})
    assert len(g._walks) <= g.walks_kept and g._walk_entries <= g.walks_kept
    none = TypedGraph.from_export(ci_export, walks_kept=0)  # keeps nothing, walks the same
    assert none.walk({anchors[0]: 1.0}) is not none.walk({anchors[0]: 1.0}) and not none._walks
    np.testing.assert_array_equal(none.walk({anchors[0]: 1.0}).mass, first.mass)
    with pytest.raises(ValueError):
        TypedGraph.from_export(ci_export, walks_kept=-1)


def test_engine_config_sets_the_walks_kept():
    """EngineConfig.walks_kept reaches the snapshot's graph (Engine.open passes it); negative
    values are refused."""
    from kgjemb.query.config import EngineConfig
    from kgjemb.query.snapshot import GraphSnapshot

    assert GraphSnapshot(six_nodes(), ["t1", "t2", "t3"], walks_kept=7).graph.walks_kept == 7
    assert EngineConfig(walks_kept=0).walks_kept == 0
    with pytest.raises(ValueError, match="walks_kept"):
        EngineConfig(walks_kept=-1)
