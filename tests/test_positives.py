"""Graph positives: every sampled pair is linked in the export by the claimed meta-path;
hard negatives differ in at least one attribute and are of another work."""
from collections import defaultdict

import networkx as nx
import numpy as np
import pytest

from kgjemb.train.positives import META_PATHS, GraphIndex, PositiveConfig


def _reference(export):
    """Slow, obvious sets straight from the edge tables (the reference)."""
    by, alb, attrs = defaultdict(set), defaultdict(set), defaultdict(set)
    for s, d in zip(*export.edges[("Track", "BY", "Artist")][["src", "dst"]].to_numpy().T):
        by[s].add(d)
    for s, d in zip(*export.edges[("Track", "ON", "Album")][["src", "dst"]].to_numpy().T):
        alb[s].add(d)
    for s, d in zip(*export.edges[("Track", "HAS", "Attribute")][["src", "dst"]].to_numpy().T):
        attrs[s].add(d)
    sim = set()
    for key in (("Artist", "SIMILAR_TO", "Artist"), ("Artist", "INFLUENCED_BY", "Artist")):
        for s, d in export.edges[key][["src", "dst"]].to_numpy():
            sim |= {(s, d), (d, s)}
    g = nx.Graph()
    g.add_nodes_from(export.nodes["Track"]["id"])
    g.add_edges_from(export.edges[("Track", "VERSION_OF", "Track")][["src", "dst"]].to_numpy().tolist())
    work = {t: i for i, comp in enumerate(nx.connected_components(g)) for t in comp}
    return by, alb, attrs, sim, work


def _linked(path, a, b, ref):
    by, alb, _, sim, work = ref
    if a == b:
        return False
    if path == "same_artist":
        return bool(by[a] & by[b])
    if path == "same_album":
        return bool(alb[a] & alb[b])
    if path == "same_work":
        return work[a] == work[b]
    if path == "similar_artist":
        return any((x, y) in sim for x in by[a] for y in by[b])
    raise AssertionError(path)


@pytest.mark.parametrize("which", ["train_example_export", "train_synth_export"])
def test_every_positive_is_linked_by_its_path(which, request):
    export = request.getfixturevalue(which)
    index = GraphIndex.from_export(export)
    ref = _reference(export)
    ids = index.track_ids
    rng = np.random.default_rng(0)
    anchors = np.tile(np.arange(index.n_tracks), 20)
    pos, path = index.sample_track_positives(anchors, rng)
    assert (path >= 0).mean() > 0.5
    seen = set()
    for a, p, c in zip(anchors, pos, path):
        if c < 0:
            assert p < 0
            # no path reaches another track: check against the reference too
            assert not any(_linked(name, ids[a], t, ref) and index.config.path_weights[name] > 0
                           for name in META_PATHS for t in ids)
            continue
        assert _linked(META_PATHS[c], ids[a], ids[p], ref), (ids[a], ids[p], META_PATHS[c])
        seen.add(META_PATHS[c])
    assert seen == set(META_PATHS)  # every path is exercised on these graphs


def test_zero_weight_paths_are_never_drawn(train_synth_export):
    cfg = PositiveConfig(path_weights={"same_work": 1.0})
    index = GraphIndex.from_export(train_synth_export, cfg)
    _, path = index.sample_track_positives(np.arange(index.n_tracks), np.random.default_rng(1))
    assert set(path.tolist()) <= {-1, META_PATHS.index("same_work")}
    assert (path >= 0).any()


def test_positive_distribution_follows_matrix_weights(train_synth_export):
    index = GraphIndex.from_export(train_synth_export, PositiveConfig(path_weights={"similar_artist": 1.0}))
    m = index.paths["similar_artist"]
    row = int(np.argmax(np.diff(m.indptr)))  # the anchor with most candidates
    pos, _ = index.sample_track_positives(np.full(20000, row), np.random.default_rng(2))
    counts = np.bincount(pos, minlength=index.n_tracks)[m.indices[m.indptr[row]:m.indptr[row + 1]]]
    expected = m.data[m.indptr[row]:m.indptr[row + 1]] / m.data[m.indptr[row]:m.indptr[row + 1]].sum()
    assert np.abs(counts / counts.sum() - expected).max() < 0.03


def test_restrict_keeps_positives_inside_the_mask(train_synth_export):
    index = GraphIndex.from_export(train_synth_export)
    allowed = np.random.default_rng(0).random(index.n_tracks) < 0.6
    pos, path = index.restrict(allowed).sample_track_positives(np.arange(index.n_tracks), np.random.default_rng(3))
    assert (path >= 0).any()
    assert allowed[pos[path >= 0]].all()


def test_kept_sums_draw_what_fresh_sums_draw(train_synth_export):
    """Draws from an index that keeps its matrices' row and running sums equal draws that
    compute them afresh, and a ``restrict``-ed copy keeps none of the parent's sums: its
    draws equal those that restrict the matrices per call (``allowed``)."""
    index = GraphIndex.from_export(train_synth_export)
    anchors = np.arange(index.n_tracks)
    for seed in (5, 6):
        index._sums.clear()
        fresh = index.sample_track_positives(anchors, np.random.default_rng(seed)), \
            index.sample_entities(anchors, np.random.default_rng(seed))
        assert index._sums  # kept ...
        kept = index.sample_track_positives(anchors, np.random.default_rng(seed)), \
            index.sample_entities(anchors, np.random.default_rng(seed))  # ... and read
        assert all(np.array_equal(a, b) for f, k in zip(fresh, kept) for a, b in zip(f, k))
    allowed = np.random.default_rng(0).random(index.n_tracks) < 0.6
    sub = index.restrict(allowed)
    assert not sub._sums
    kept = sub.sample_track_positives(anchors, np.random.default_rng(6))
    fresh = index.sample_track_positives(anchors, np.random.default_rng(6), allowed=allowed)
    assert all(np.array_equal(a, b) for a, b in zip(kept, fresh)) and (kept[1] >= 0).any()
    assert allowed[kept[0][kept[1] >= 0]].all()


def test_entities_are_linked(train_example_export):
    export = train_example_export
    index = GraphIndex.from_export(export)
    by, alb, attrs, _, _ = _reference(export)
    label, row = index.sample_entities(np.tile(np.arange(index.n_tracks), 10), np.random.default_rng(4))
    names = ("Artist", "Album", "Attribute")
    for t, lb, r in zip(np.tile(np.arange(index.n_tracks), 10), label, row):
        tid = index.track_ids[t]
        ent = index.entity_ids[names[lb]][r]
        assert ent in (by, alb, attrs)[lb][tid], (tid, names[lb], ent)
    assert set(label.tolist()) == {0, 1, 2}


@pytest.mark.parametrize("which", ["train_example_export", "train_synth_export"])
def test_hard_negatives_differ_in_an_attribute(which, request):
    export = request.getfixturevalue(which)
    index = GraphIndex.from_export(export)
    by, _, attrs, _, work = _reference(export)
    pool = index.build_hard_pool()
    neg = index.sample_hard_negatives(np.arange(index.n_tracks), np.random.default_rng(5))
    ids = index.track_ids
    assert (neg >= 0).mean() > 0.8
    for a, n in zip(range(index.n_tracks), neg):
        if n < 0:
            continue
        ta, tn = ids[a], ids[n]
        assert attrs[ta] != attrs[tn]  # differs in at least one attribute
        assert attrs[ta] & attrs[tn]  # but shares some
        assert work[ta] != work[tn] and not (by[ta] & by[tn])
    # the pool is ordered by shared attributes, most first
    a = index.track_attr
    for r in range(0, index.n_tracks, 37):
        cand = pool[r][pool[r] >= 0]
        shared = np.asarray((a[r] @ a[cand].T).todense()).ravel()
        assert (np.diff(shared) <= 0).all()


def test_bad_weights():
    with pytest.raises(ValueError, match="choose from"):
        PositiveConfig(path_weights={"same_label": 1.0})


def test_graded_link_mask(train_synth_export):
    from kgjemb.train.positives import PATH_STRENGTH

    index = GraphIndex.from_export(train_synth_export)
    ref = _reference(train_synth_export)
    ids = index.track_ids
    rng = np.random.default_rng(6)
    anchors = rng.choice(index.n_tracks, 60, replace=False)
    pos, path = index.sample_track_positives(anchors, rng)
    ok = path >= 0
    anchors, pos, path = anchors[ok], pos[ok], path[ok]
    graded = index.link_mask(anchors, pos, path)
    full = index.link_mask(anchors, pos)
    assert graded.diagonal().all()  # each anchor's own positive is linked by its path
    assert (graded <= full).all() and (full != graded).any()
    for i, a in enumerate(anchors):
        strong = PATH_STRENGTH[: PATH_STRENGTH.index(META_PATHS[path[i]]) + 1]
        for j, c in enumerate(pos):
            expect = a == c or any(_linked(p, ids[a], ids[c], ref) for p in strong)
            assert graded[i, j] == expect
