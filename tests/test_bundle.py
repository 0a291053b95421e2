"""Bundle format: manifest, checksums, corruption, incremental add and remove."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kgjemb.errors import BundleError
from kgjemb.graph.base import GraphExport
from kgjemb.index.builder import BuildConfig, remove_tracks, update_bundle
from kgjemb.index.bundle import FORMAT_VERSION, Bundle, sha256_file
from kgjemb.query.engine import Engine


def test_manifest_lists_every_file_with_its_sha256(bundle_dir):
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["dim"] > 0 and manifest["model_checksum"]
    assert manifest["index"] == {"backend": "faiss", "factory": manifest["factory"]}
    assert "index/fields.json" in manifest["files"]
    files = {p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    for name, digest in manifest["files"].items():
        assert sha256_file(bundle_dir / name) == digest
    bundle = Bundle.open(bundle_dir)
    assert manifest["counts"]["tracks_indexed"] == len(bundle.track_ids) == len(bundle.index) > 0
    assert bundle.track_vectors.shape == (len(bundle.track_ids), manifest["dim"])
    np.testing.assert_allclose(np.linalg.norm(bundle.track_vectors, axis=1), 1.0, atol=1e-4)
    assert any(n.startswith("model/") for n in manifest["files"])


@pytest.mark.parametrize("victim", ["vectors/tracks.npy", "entities/Artist.npy", "graph/nodes/Track.parquet", "index/index.faiss"])
def test_flipped_byte_is_named(bundle_copy, victim):
    path = bundle_copy / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=victim.split("/")[-1].replace(".", r"\.")):
        Bundle.open(bundle_copy)
    with pytest.raises(BundleError, match="checksum"):
        Engine.open(bundle_copy)


def test_missing_files_are_named(bundle_copy):
    (bundle_copy / "entities" / "Album.npy").unlink()
    with pytest.raises(BundleError, match=r"Album\.npy"):
        Bundle.open(bundle_copy)
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest"):
        Bundle.open(bundle_copy)


def _with_new_artist(export: GraphExport, source_artist: str, n_tracks: int = 3) -> tuple[GraphExport, list[str]]:
    """The export plus a new artist whose new tracks reuse audio of ``source_artist``'s tracks."""
    by = export.edges[("Track", "BY", "Artist")]
    src_tracks = by[(by["dst"] == source_artist) & (by["role"] == "primary")]["src"].tolist()
    tracks = export.nodes["Track"].set_index("id").loc[src_tracks]
    tracks = tracks[tracks["audio_path"].notna()].head(n_tracks)
    new_ids = [f"zz_new_{i}" for i in range(len(tracks))]
    nodes = dict(export.nodes)
    nodes["Artist"] = pd.concat([export.nodes["Artist"], pd.DataFrame([{
        "id": "zz_newcomer", "name": "Zelda Newcomer", "aliases": [], "born": None, "died": None, "country": None}])],
        ignore_index=True)
    new_tracks = tracks.reset_index(drop=True).assign(id=new_ids, title=[f"Newcomer Piece {i}" for i in range(len(new_ids))])
    nodes["Track"] = pd.concat([export.nodes["Track"], new_tracks[export.nodes["Track"].columns]], ignore_index=True)
    edges = dict(export.edges)
    key = ("Track", "BY", "Artist")
    edges[key] = pd.concat([export.edges[key], pd.DataFrame(
        [{"src": t, "dst": "zz_newcomer", "weight": 1.0, "source": "test", "role": "primary"} for t in new_ids])],
        ignore_index=True)
    return GraphExport(nodes=nodes, edges=edges), new_ids


def test_incremental_add_makes_new_tracks_and_artist_searchable(bundle_copy):
    before = Bundle.open(bundle_copy)
    artist = before.export.edges[("Track", "BY", "Artist")]["dst"].value_counts().index[0]
    export, new_ids = _with_new_artist(before.export, artist)
    assert new_ids
    _, change = update_bundle(bundle_copy, export, config=BuildConfig(progress=False))
    assert sorted(change["added"]) == sorted(new_ids) and change["removed"] == []
    after = Bundle.open(bundle_copy)  # verifies the rewritten checksums
    assert set(new_ids) <= set(after.track_ids) and len(after.index) == len(before.index) + len(new_ids)
    # old tracks keep their vectors exactly (not re-embedded)
    row = {t: i for i, t in enumerate(after.track_ids)}
    for i, t in enumerate(before.track_ids[:10]):
        np.testing.assert_array_equal(after.track_vectors[row[t]], before.track_vectors[i])
    # the new artist got an inductive vector, and it finds its own tracks first
    arow = after.export.node_index("Artist")["zz_newcomer"]
    assert np.linalg.norm(after.entities["Artist"][arow]) > 0.5
    engine = Engine.open(bundle_copy)
    hits = engine.search("songs like Zelda Newcomer", k=len(new_ids) + 2).hits
    assert set(new_ids) & {h.track_id for h in hits[: len(new_ids)]}
    assert any(h.matched_entity == "Artist:zz_newcomer" and h.path[-1:] == ["Artist:zz_newcomer"] for h in hits)


def test_remove_tracks(bundle_copy):
    before = Bundle.open(bundle_copy)
    gone = before.track_ids[:2]
    _, removed = remove_tracks(bundle_copy, [*gone, "no-such-track"], config=BuildConfig(progress=False))
    assert removed == gone
    after = Bundle.open(bundle_copy)
    assert not set(gone) & set(after.track_ids) and len(after.index) == len(before.index) - 2
    assert not set(gone) & set(after.export.nodes["Track"]["id"])
    engine = Engine.open(bundle_copy)
    hits = engine.search("slow", k=len(after.track_ids)).hits
    assert len(hits) == len(after.track_ids) and not set(gone) & {h.track_id for h in hits}
    assert not list(bundle_copy.parent.glob(".bundle.*"))  # no temp or old dirs left behind
