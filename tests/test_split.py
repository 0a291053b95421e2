"""Split by work: VERSION_OF components never straddle; deterministic from the seed."""
import networkx as nx
import numpy as np
import pytest

from kgjemb.train.split import split_by_work


def _works(export):
    g = nx.Graph()
    g.add_nodes_from(export.nodes["Track"]["id"])
    g.add_edges_from(export.edges[("Track", "VERSION_OF", "Track")][["src", "dst"]].to_numpy().tolist())
    return [set(c) for c in nx.connected_components(g)]


@pytest.mark.parametrize("which", ["train_example_export", "train_synth_export"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_versions_never_straddle(which, seed, request):
    export = request.getfixturevalue(which)
    split = split_by_work(export, val_fraction=0.25, seed=seed)
    train, val = set(split.train_ids), set(split.val_ids)
    assert not train & val
    assert train | val == set(export.nodes["Track"]["id"])
    multi = [w for w in _works(export) if len(w) > 1]
    assert multi  # both graphs have versions
    for work in _works(export):
        assert work <= train or work <= val, work
    n = len(export.nodes["Track"])
    assert 0.25 * n <= len(val) < 0.25 * n + max(len(w) for w in _works(export))
    ids = np.asarray(export.nodes["Track"]["id"], dtype=object)
    assert set(ids[split.val_mask]) == val and set(ids[split.train_mask]) == train


def test_deterministic_and_seed_dependent(train_synth_export):
    a = split_by_work(train_synth_export, val_fraction=0.2, seed=4)
    b = split_by_work(train_synth_export, val_fraction=0.2, seed=4)
    c = split_by_work(train_synth_export, val_fraction=0.2, seed=5)
    assert a.val_ids == b.val_ids
    assert a.val_ids != c.val_ids


def test_zero_fraction_and_bad_fraction(train_example_export):
    assert split_by_work(train_example_export, val_fraction=0.0).val_ids == ()
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_work(train_example_export, val_fraction=1.0)


@pytest.mark.parametrize("which", ["train_example_export", "train_synth_export"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_by_album_holds_out_whole_albums(which, seed, request):
    from kgjemb.train.split import make_split, split_by_album

    export = request.getfixturevalue(which)
    split = split_by_album(export, val_fraction=0.3, seed=seed)
    train, val = set(split.train_ids), set(split.val_ids)
    assert not train & val and train | val == set(export.nodes["Track"]["id"])
    on = export.edges[("Track", "ON", "Album")]
    albums = on.groupby("dst")["src"].apply(set)
    assert len(albums) >= 3
    for album, tracks in albums.items():
        assert tracks <= train or tracks <= val, album
    assert any(tracks <= val for tracks in albums)  # a whole album is held out
    assert make_split(export, by="album", val_fraction=0.3, seed=seed).val_ids == split.val_ids


def test_split_by_album_is_seeded(train_synth_export):
    from kgjemb.train.split import make_split, split_by_album

    a = split_by_album(train_synth_export, val_fraction=0.2, seed=4)
    b = split_by_album(train_synth_export, val_fraction=0.2, seed=4)
    c = split_by_album(train_synth_export, val_fraction=0.2, seed=5)
    assert a.val_ids == b.val_ids and a.val_ids != c.val_ids
    with pytest.raises(ValueError, match="choose from"):
        make_split(train_synth_export, by="decade")
