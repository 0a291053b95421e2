"""KGJointModel and its towers on real components (MiniLM, torch-geometric, fixture audio)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from kgjemb.errors import BundleError
from kgjemb.model import JointModel, KGJointModel, ModelConfig, load_model

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "graph" / "fixtures" / "example"
SMALL = dict(dim=64, cnn_channels=(8, 16, 32), gnn_hidden=64, text_hidden=128)


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared 2-core box one thread beats two (no OpenMP barrier waits)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> KGJointModel:
    return KGJointModel(ModelConfig(**SMALL), cache_dir=tmp_path_factory.mktemp("feat"), device="cpu")


@pytest.fixture(scope="module")
def export():
    from kgjemb.catalog import catalog_to_rows, validate_catalog
    from kgjemb.graph.embedded import EmbeddedGraphStore

    catalog, report = validate_catalog(CATALOG)
    if not report.valid:
        raise RuntimeError(f"fixture catalog invalid: {report}")
    store = EmbeddedGraphStore(None)
    store.upsert(catalog_to_rows(catalog), progress=False)
    return store.export()


@pytest.fixture(scope="module")
def clips() -> list[Path]:
    return sorted((CATALOG / "audio").glob("*.flac"))


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory, clips) -> Path:
    """45 s of real audio made by concatenating the fixture clips."""
    parts, sr = [], None
    for p in clips:
        y, sr = sf.read(p, dtype="float32")
        parts.append(y)
    y = np.concatenate(parts * 3)[: 45 * sr]
    path = tmp_path_factory.mktemp("long") / "long45.wav"
    sf.write(path, y, sr)
    return path


def _track_vectors(model, export) -> np.ndarray:
    paths = [CATALOG / p if isinstance(p, str) and p else None for p in export.nodes["Track"]["audio_path"]]
    out = np.zeros((len(paths), model.dim), np.float32)
    have = [i for i, p in enumerate(paths) if p is not None and p.is_file()]
    out[have] = model.embed_audio([paths[i] for i in have])
    return out


def test_protocol_and_shapes(model, clips):
    assert isinstance(model, JointModel) and model.dim == 64
    a = model.embed_audio(clips[:3])
    t = model.embed_text(["melancholic piano", "no vocals", "fiddle reel"])
    for arr in (a, t):
        assert arr.dtype == np.float32 and arr.shape == (3, 64)
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(a[0], a[1])  # different clips, different vectors
    assert model.embed_audio([]).shape == (0, 64) and model.embed_text([]).shape == (0, 64)


def test_long_audio_embedding_is_deterministic(model, long_clip, clips):
    chunks, owner = model.chunk_batch([long_clip])
    assert chunks.shape[0] == 9 and owner.tolist() == [0] * 9  # 45 s / 5 s
    ref = model.embed_audio([long_clip])[0]
    np.testing.assert_allclose(model.embed_audio([long_clip])[0], ref, atol=1e-6)
    mixed = model.embed_audio([clips[0], long_clip, clips[1], clips[2]], batch_size=3)
    np.testing.assert_allclose(mixed[1], ref, atol=1e-6)
    single = model.embed_audio([clips[0], clips[1]], batch_size=1)
    np.testing.assert_allclose(single, mixed[[0, 2]], atol=1e-6)
    import kgjemb.model.joint as joint

    old, joint.MAX_CHUNKS_PER_FORWARD = joint.MAX_CHUNKS_PER_FORWARD, 4  # split one file's chunks
    try:
        np.testing.assert_allclose(model.embed_audio([clips[0], long_clip]), mixed[:2], atol=1e-6)
    finally:
        joint.MAX_CHUNKS_PER_FORWARD = old
    model.train()  # embed_audio uses eval statistics whatever the mode
    try:
        np.testing.assert_allclose(model.embed_audio([long_clip])[0], ref, atol=1e-6)
    finally:
        model.eval()


def test_text_tower_cache_and_semantics(model):
    texts = ["sad slow piano", "melancholic piano ballad", "fast heavy metal drums"]
    first = model.embed_text(texts)
    hits = model.text.cache_hits
    again = model.embed_text(texts)
    assert model.text.cache_hits == hits + 3
    np.testing.assert_array_equal(first, again)
    raw = model.text.encode_raw(texts).numpy()  # (3, 384), the real MiniLM
    assert raw[0] @ raw[1] > raw[0] @ raw[2]


def test_differentiable_training_surface(model, clips, export):
    model.train()
    try:
        chunks, _ = model.chunk_batch(clips[:2])
        audio = model.encode_audio_features(chunks)  # (2, 64)
        text = model.encode_text(["piano", "strings"])
        inputs = model.graph_inputs(export)  # text features once; audio swapped in per step
        tv = torch.cat([audio, audio.new_zeros(len(export.nodes["Track"]) - 2, 64)])  # (n_track, 64)
        ent = model.encode_entities(inputs.with_track_audio(tv))
        loss = (audio * text).sum() + sum(v.sum() for v in ent.values())
        loss.backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        assert grads["audio.proj.weight"].abs().sum() > 0
        assert grads["text.proj.0.weight"].abs().sum() > 0
        assert grads["entity.head.weight"].abs().sum() > 0
        assert all(g is None for n, g in grads.items() if n.startswith("text.encoder."))  # frozen
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()


def test_entity_embeddings_aligned_normalised_deterministic(model, export):
    tv = _track_vectors(model, export)
    out = model.embed_entities(export, tv)
    assert set(out) == set(export.nodes)
    for label, arr in out.items():
        assert arr.shape == (len(export.nodes[label]), 64) and arr.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    again = model.embed_entities(export, tv)
    for label in out:
        np.testing.assert_allclose(out[label], again[label], atol=1e-6)
    with pytest.raises(ValueError, match="track_vectors"):
        model.embed_entities(export, tv[:-1])


def _with_new_artist(export, track_id: str, artist_id: str):
    """The export plus one new artist and one new track by it (no retraining involved)."""
    from kgjemb.graph.base import GraphExport

    nodes = {k: v.copy() for k, v in export.nodes.items()}
    edges = {k: v.copy() for k, v in export.edges.items()}
    nodes["Artist"] = _add(nodes["Artist"], {"id": artist_id, "name": "Brand New Ensemble"})
    nodes["Track"] = _add(nodes["Track"], {"id": track_id, "title": "First Light"})
    edges[("Track", "BY", "Artist")] = _add(edges[("Track", "BY", "Artist")], {"src": track_id, "dst": artist_id, "weight": 1.0}, ["src", "dst"])
    return GraphExport(nodes=nodes, edges=edges)


def _add(frame, row, by=("id",)):
    return pd.concat([frame, pd.DataFrame([row])], ignore_index=True).sort_values(list(by)).reset_index(drop=True)


def test_inductive_new_artist_sits_near_its_track(model, export, long_clip):
    new = _with_new_artist(export, "zz-new-track", "zz-new-artist")
    tv_old = _track_vectors(model, export)
    new_index = new.node_index("Track")
    tv = np.zeros((len(new.nodes["Track"]), model.dim), np.float32)
    for tid, i in export.node_index("Track").items():
        tv[new_index[tid]] = tv_old[i]
    own = model.embed_audio([long_clip])[0]
    tv[new_index["zz-new-track"]] = own
    out = model.embed_entities(new, tv)
    artist = out["Artist"][new.node_index("Artist")["zz-new-artist"]]
    others = np.delete(tv, new_index["zz-new-track"], axis=0)
    others = others[np.linalg.norm(others, axis=1) > 0]
    assert artist @ own > (others @ artist).max()
    # old nodes keep their vectors up to the influence of the new neighbourhood (none here)
    before = model.embed_entities(export, tv_old)["Artist"]
    idx = new.node_index("Artist")
    for aid, i in export.node_index("Artist").items():
        np.testing.assert_allclose(out["Artist"][idx[aid]], before[i], atol=1e-5)


def test_save_load_round_trip(model, tmp_path, clips, export):
    model.save(tmp_path / "m")
    files = sorted(os.listdir(tmp_path / "m"))
    assert files == ["config.json", "model.pt"]
    state = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    assert not any(k.startswith("text.encoder.") for k in state)  # frozen MiniLM not saved
    assert model.checksum() == hashlib.sha256((tmp_path / "m" / "model.pt").read_bytes()).hexdigest()
    loaded = load_model(tmp_path / "m", device="cpu", cache_dir=False)
    assert loaded.config == model.config and loaded.checksum() == model.checksum()
    np.testing.assert_allclose(loaded.embed_audio(clips[:2]), model.embed_audio(clips[:2]), atol=1e-6)
    np.testing.assert_allclose(loaded.embed_text(["organ chorale"]), model.embed_text(["organ chorale"]), atol=1e-6)
    tv = _track_vectors(model, export)
    a, b = model.embed_entities(export, tv), loaded.embed_entities(export, tv)
    for label in a:
        np.testing.assert_allclose(a[label], b[label], atol=1e-6)
    (tmp_path / "m" / "metrics.json").write_text("{}")
    (tmp_path / "m" / "plots").mkdir()
    (tmp_path / "m" / "plots" / "spectrum.png").write_bytes(b"png")
    model.save(tmp_path / "m")  # re-saving keeps the trainer's other files
    assert (tmp_path / "m" / "metrics.json").is_file() and (tmp_path / "m" / "plots" / "spectrum.png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_audio_blocks_run_channels_last_and_match_the_reference_layout(model, tmp_path):
    """The CNN blocks keep NHWC weights (the fast CPU kernels) after save/load, and give what
    the same weights give in NCHW with ReLU before max-pool (the textbook order), values and
    gradients, up to float rounding."""
    import copy

    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m", device="cpu", cache_dir=False)
    for tower in (model.audio, loaded.audio):
        convs = [m for m in tower.blocks.modules() if isinstance(m, torch.nn.Conv2d)]
        assert len(convs) == 3 and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    ref = copy.deepcopy(model.audio).to(memory_format=torch.contiguous_format)
    for block in ref.blocks:
        block[2], block[3] = block[3], block[2]  # ReLU, then max-pool
        assert isinstance(block[2], torch.nn.ReLU) and isinstance(block[3], torch.nn.MaxPool2d)
    assert not ref.blocks[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(3, model.audio.n_mels + model.audio.n_chroma, 157, generator=torch.Generator().manual_seed(0))
    ref.eval()
    tower = copy.deepcopy(model.audio).eval()
    got, want = tower(x), ref(x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    weights = torch.arange(got.numel(), dtype=got.dtype).reshape(got.shape)
    (got * weights).sum().backward()
    (want * weights).sum().backward()
    for (name, a), b in zip(tower.named_parameters(), ref.parameters()):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_load_errors_name_the_file(model, tmp_path):
    with pytest.raises(BundleError, match="config.json"):
        load_model(tmp_path / "missing")
    model.save(tmp_path / "m")
    (tmp_path / "m" / "model.pt").write_bytes(b"garbage")
    with pytest.raises(BundleError, match="model.pt"):
        load_model(tmp_path / "m")
    model.save(tmp_path / "m2")
    other = KGJointModel(ModelConfig(**{**SMALL, "cnn_channels": (8, 16)}), cache_dir=False, device="cpu")
    torch.save(other.trainable_state_dict(), tmp_path / "m2" / "model.pt")
    with pytest.raises(BundleError, match="model.pt"):
        load_model(tmp_path / "m2")


def test_finetuned_text_layers_are_saved(tmp_path):
    cfg = ModelConfig(**SMALL, text_finetune_layers=1)
    m = KGJointModel(cfg, cache_dir=False, device="cpu")
    m.train()
    m.encode_text(["bright brass fanfare"]).sum().backward()
    assert m.text.encoder.encoder.layer[5].attention.self.query.weight.grad is not None
    assert m.text.encoder.encoder.layer[4].attention.self.query.weight.grad is None
    with torch.no_grad():
        m.text.encoder.encoder.layer[5].output.dense.bias.add_(0.1)
    m.eval()
    m.save(tmp_path / "ft")
    state = torch.load(tmp_path / "ft" / "model.pt", weights_only=True)
    assert any(k.startswith("text.encoder.encoder.layer.5.") for k in state)
    assert not any(k.startswith("text.encoder.encoder.layer.4.") for k in state)
    loaded = load_model(tmp_path / "ft", device="cpu", cache_dir=False)
    np.testing.assert_allclose(loaded.embed_text(["bright brass"]), m.embed_text(["bright brass"]), atol=1e-5)


def test_config_validation_lists_choices():
    with pytest.raises(ValueError, match="graphconv"):
        ModelConfig(gnn="gat")
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({"dims": 3})
    cfg = ModelConfig(dim=32, cnn_channels=[4, 8])
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_sage_variant_and_no_gnn_layers(export):
    for cfg in (ModelConfig(**SMALL, gnn="sage"), ModelConfig(**SMALL, gnn_layers=0)):
        m = KGJointModel(cfg, cache_dir=False, device="cpu")
        out = m.embed_entities(export, None)
        assert out["Artist"].shape == (len(export.nodes["Artist"]), 64)
        assert np.isfinite(out["Attribute"]).all()


def test_track_title_feature_option(export):
    m = KGJointModel(ModelConfig(**SMALL, track_title_feature=True), cache_dir=False, device="cpu")
    inputs = m.graph_inputs(export)
    assert inputs.x_dict["Track"].shape == (len(export.nodes["Track"]), 64 + 384)
    out = m.embed_entities(export, None)
    assert out["Track"].shape == (len(export.nodes["Track"]), 64)
    np.testing.assert_allclose(np.linalg.norm(out["Track"], axis=1), 1.0, atol=1e-5)


def test_inductive_after_training_steps(export, long_clip):
    """Train the entity tower briefly (artist ↔ its tracks' audio, InfoNCE), then add an
    unseen artist: it still lands nearer its own track than any other track."""
    from kgjemb.train.losses import get_loss

    torch.manual_seed(0)
    m = KGJointModel(ModelConfig(**SMALL), cache_dir=False, device="cpu")
    tv = torch.from_numpy(_track_vectors(m, export))
    inputs = m.graph_inputs(export, tv)
    by = export.edges[("Track", "BY", "Artist")]
    t_idx, a_idx = export.node_index("Track"), export.node_index("Artist")
    pairs_t = torch.tensor([t_idx[s] for s in by["src"]])
    pairs_a = torch.tensor([a_idx[d] for d in by["dst"]])
    loss_fn = get_loss("info_nce")
    opt = torch.optim.Adam(list(m.entity.parameters()) + list(loss_fn.parameters()), lr=3e-3)
    m.train()
    losses = []
    for _ in range(15):
        ent = m.encode_entities(inputs)
        loss = loss_fn(ent["Artist"][pairs_a], tv[pairs_t], ids=pairs_a)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    m.eval()
    assert losses[-1] < losses[0]
    new = _with_new_artist(export, "zz-new-track", "zz-new-artist")
    new_index = new.node_index("Track")
    tv_new = np.zeros((len(new.nodes["Track"]), m.dim), np.float32)
    for tid, i in t_idx.items():
        tv_new[new_index[tid]] = tv[i].numpy()
    own = m.embed_audio([long_clip])[0]
    tv_new[new_index["zz-new-track"]] = own
    artist = m.embed_entities(new, tv_new)["Artist"][new.node_index("Artist")["zz-new-artist"]]
    others = np.delete(tv_new, new_index["zz-new-track"], axis=0)
    assert artist @ own > (others[np.linalg.norm(others, axis=1) > 0] @ artist).max()


def test_text_embedding_from_threads_matches_serial(model):
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"{mood} {inst} number {i}" for i, (mood, inst) in enumerate(
        [("calm", "harp"), ("angry", "drums"), ("sad", "cello"), ("bright", "flute")] * 6)]
    with ThreadPoolExecutor(4) as pool:  # fresh strings: threads fill the shared cache
        parts = list(pool.map(lambda i: model.embed_text(texts[i : i + 3]), range(0, len(texts), 3)))
    with torch.no_grad():  # reference straight from the encoder, no cache involved
        serial = model.text.project(model.text._encode(texts, torch.device("cpu"))).numpy()
    np.testing.assert_allclose(np.concatenate(parts), serial, atol=1e-5)
    np.testing.assert_allclose(model.embed_text(texts), np.concatenate(parts), atol=1e-6)
    import copy

    clone = copy.deepcopy(model.text)  # towers stay deep-copyable (EMA / MoCo copies)
    assert torch.equal(clone.proj[0].weight, model.text.proj[0].weight)


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = KGJointModel(ModelConfig(**SMALL), cache_dir=False, device="cpu", seed=7)
    assert torch.equal(torch.rand(1), expected)
    b = KGJointModel(ModelConfig(**SMALL), cache_dir=False, device="cpu", seed=7)
    c = KGJointModel(ModelConfig(**SMALL), cache_dir=False, device="cpu", seed=8)
    assert torch.equal(a.audio.proj.weight, b.audio.proj.weight)
    assert not torch.equal(a.audio.proj.weight, c.audio.proj.weight)


def test_node_name_vectors_persist_across_processes(export, tmp_path):
    from collections import OrderedDict

    from kgjemb.model.text_tower import TextVectorStore

    m = KGJointModel(ModelConfig(**SMALL), cache_dir=tmp_path / "cache" / "audio", device="cpu")
    first = m.embed_entities(export, None)
    shards = list((tmp_path / "cache" / "text").rglob("*.npz"))
    assert len(shards) == 1
    m.embed_entities(export, None)
    assert len(list((tmp_path / "cache" / "text").rglob("*.npz"))) == 1  # nothing new to store
    # a fresh process: empty in-memory cache, vectors come back from disk, same results
    saved = m.text._cache.copy()
    m.text._cache.clear()
    m.text_store = TextVectorStore(tmp_path / "cache" / "text", m.config)
    assert m.text_store.load_into(m.text) == len(export.nodes["Artist"]) + len(export.nodes["Album"]) + len(export.nodes["Attribute"])
    hits = m.text.cache_hits
    again = m.embed_entities(export, None)
    assert m.text.cache_hits > hits
    for label in first:
        np.testing.assert_allclose(again[label], first[label], atol=1e-6)
    for text, vec in m.text._cache.items():
        if text in saved:
            assert torch.allclose(vec, saved[text], atol=1e-6)
    assert isinstance(saved, OrderedDict)


def test_config_saved_before_chroma_loads_as_log_mel_only():
    """A config.json written before the chroma rows existed (no ``n_chroma``) rebuilds the
    log-mel-only tower its weights were trained for."""
    from kgjemb.model.audio_tower import AudioTower

    legacy = ModelConfig().to_dict()
    for key in ("n_chroma", "chroma_n_fft"):
        legacy["frontend"].pop(key)
    cfg = ModelConfig.from_dict(legacy)
    assert cfg.frontend.n_chroma == 0 and cfg.frontend.n_features == cfg.frontend.n_mels
    tower = AudioTower(cfg)
    assert tower.pitch is None and tower(torch.zeros(2, cfg.frontend.n_mels, 100)).shape == (2, cfg.dim)
    with_chroma = AudioTower(ModelConfig())
    assert with_chroma(torch.zeros(2, 64 + 12, 100)).shape == (2, 256)
    with pytest.raises(ValueError, match="12 chroma"):
        with_chroma(torch.zeros(2, 64, 100))  # log-mels alone are not this tower's input


def test_track_head_is_its_own_projection_and_trains(clips, tmp_path):
    """The track↔track objective has its own projection of the audio trunk: a step on the
    track space moves that head and the trunk, never the joint projection, and the joint
    audio↔text space keeps its shape."""
    from kgjemb.train.losses import get_loss

    m = KGJointModel(ModelConfig(**SMALL), cache_dir=tmp_path / "feat", device="cpu")
    shared = KGJointModel(ModelConfig(**SMALL, track_head=False), cache_dir=False, device="cpu")
    assert m.audio.track_proj is not None and shared.audio.track_proj is None
    assert {"audio.track_proj.weight", "audio.track_proj.bias"} <= set(m.trainable_state_dict())
    chunks, _ = m.chunk_batch(clips[:4])  # (n_chunks, n_features, frames)
    m.train()
    joint, track = m.encode_audio_spaces(chunks)
    assert joint.shape == track.shape == (len(chunks), 64)
    assert not torch.allclose(joint, track)
    s_joint, s_track = shared.encode_audio_spaces(chunks)
    assert torch.equal(s_joint, s_track)  # no head: one space
    before = {n: p.detach().clone() for n, p in m.audio.named_parameters()}
    opt = torch.optim.SGD(m.audio.parameters(), lr=0.5)
    loss = get_loss("triplet", mining="hard")(track[:-1], track[1:])
    loss.backward()
    opt.step()
    moved = {n for n, p in m.audio.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert "track_proj.weight" in moved and any(n.startswith("blocks.") for n in moved)
    assert not moved & {"proj.weight", "proj.bias"}
    m.eval()
    j = m.embed_audio(clips[:2])
    t = m.embed_audio(clips[:2], space="track")
    assert j.shape == t.shape == (2, m.dim) and np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    assert m.embed_text(["a fiddle reel"]).shape == (1, m.dim)
    with pytest.raises(ValueError, match="no track head"):
        shared.embed_audio(clips[:1], space="track")
    with pytest.raises(ValueError, match="joint"):
        m.embed_audio(clips[:1], space="timbre")


def test_model_saved_before_the_track_head_loads_without_one(tmp_path, clips):
    """A config.json without ``track_head`` (models saved before it existed) rebuilds the
    one-projection tower its weights fit; its weights load and embed as before."""
    import json

    old = KGJointModel(ModelConfig(**SMALL, track_head=False), cache_dir=False, device="cpu")
    old.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["model"].pop("track_head")
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    loaded = load_model(tmp_path / "m", device="cpu", cache_dir=False)
    assert loaded.config.track_head is False and loaded.audio.track_proj is None
    np.testing.assert_allclose(loaded.embed_audio(clips[:1]), old.embed_audio(clips[:1]), atol=1e-6)
    # weights of a head-less model under a config that asks for a head: refused, naming the file
    meta["model"]["track_head"] = True
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="track_proj"):
        load_model(tmp_path / "m", device="cpu", cache_dir=False)


def test_track_grad_scales_what_the_track_space_sends_into_each_trunk_half():
    """``track_grad`` = (timbre, pitch) leaves the vectors as they are and multiplies the
    gradient the track space sends into the log-mel CNN and the chroma branch."""
    from kgjemb.model.audio_tower import AudioTower, scale_grad

    x = torch.randn(3, 4, requires_grad=True)
    for factor in (0.0, 0.25, 1.0):
        y = scale_grad(x, factor)
        assert torch.equal(y, x)
        (g,) = torch.autograd.grad((y * 2.0).sum(), x, allow_unused=True) if factor else (None,)
        if factor:
            assert torch.allclose(g, torch.full_like(x, 2.0 * factor))
        else:
            assert not y.requires_grad  # detached

    tower = AudioTower(ModelConfig(**SMALL)).eval()
    feats = torch.randn(2, 64 + 12, 96)  # (B, n_mels + n_chroma, frames)
    base = tower.forward_spaces(feats)
    grads = {}
    for scale in ((1.0, 1.0), (0.0, 1.0), (0.5, 0.0)):
        tower.zero_grad(set_to_none=True)
        joint, track = tower.forward_spaces(feats, track_grad=scale)
        assert torch.equal(joint, base[0]) and torch.allclose(track, base[1])  # values unchanged
        (track * torch.linspace(-1, 1, track.shape[1])).sum().backward()
        conv, pitch = tower.blocks[0][0].weight.grad, tower.pitch.net[1].weight.grad
        assert tower.proj.weight.grad is None  # the joint projection never hears the track space
        grads[scale] = (conv.clone(), pitch.clone())
    full_conv, full_pitch = grads[(1.0, 1.0)]
    assert full_conv.abs().sum() > 0 and full_pitch.abs().sum() > 0
    assert torch.count_nonzero(grads[(0.0, 1.0)][0]) == 0 and torch.allclose(grads[(0.0, 1.0)][1], full_pitch)
    assert torch.allclose(grads[(0.5, 0.0)][0], 0.5 * full_conv, atol=1e-7) and torch.count_nonzero(grads[(0.5, 0.0)][1]) == 0


def test_embed_audio_spaces_matches_embed_audio_per_space(clips, tmp_path):
    """One pass over the audio gives each space's vectors exactly as ``embed_audio`` does."""
    m = KGJointModel(ModelConfig(**SMALL), cache_dir=tmp_path / "feat", device="cpu")
    both = m.embed_audio_spaces(clips[:3], batch_size=2)
    assert set(both) == {"joint", "track"}
    for space in ("joint", "track"):
        assert np.allclose(both[space], m.embed_audio(clips[:3], batch_size=2, space=space), atol=1e-6)
    assert not np.allclose(both["joint"], both["track"])
    with pytest.raises(ValueError, match="unknown space"):
        m.embed_audio_spaces(clips[:1], spaces=("timbre",))


def test_dynamics_branch_is_the_mfcc_statistics_of_the_chunk(clips, tmp_path):
    """The dynamics branch computes, before its BatchNorm, exactly the MFCC mean and sd of
    :func:`kgjemb.audio.mfcc.mfcc_stats` and the sd of the coefficients' changes over each
    lag; it joins the trunk, trains (its BatchNorm learns the training audio's statistics),
    survives save/load, and a model saved before it existed loads without it."""
    import json

    from kgjemb.audio.mfcc import mfcc_stats
    from kgjemb.model.audio_tower import AudioTower

    cfg = ModelConfig(**SMALL, dynamics_branch=True)
    m = KGJointModel(cfg, cache_dir=tmp_path / "feat", device="cpu")
    branch = m.audio.dynamics
    lags = branch.LAGS
    assert branch.width == 20 * (2 + len(lags))
    chunks, _ = m.chunk_batch(clips[:2])  # (n_chunks, n_features, frames)
    mel = chunks[:, : cfg.frontend.n_mels]
    stats = []
    branch.norm.register_forward_hook(lambda mod, inp, out: stats.append(inp[0].detach()))
    m.eval()
    with torch.no_grad():
        m.audio.trunk(chunks)
    raw = stats[-1].numpy()  # (n_chunks, width) before the BatchNorm
    for i in range(len(chunks)):
        ref = mfcc_stats(mel[i].numpy())  # mean and sd of 20 MFCCs
        np.testing.assert_allclose(raw[i, :40], ref, rtol=1e-4, atol=1e-3)
        c = scipy_mfcc(mel[i].numpy())
        for j, lag in enumerate(lags):
            np.testing.assert_allclose(raw[i, 40 + 20 * j : 60 + 20 * j], (c[:, lag:] - c[:, :-lag]).std(axis=1),
                                       rtol=1e-4, atol=1e-3)
    short = AudioTower(cfg).eval()(torch.randn(2, 64 + 12, 8))  # fewer frames than the longest lag
    assert torch.isfinite(short).all()
    # it trains: a step moves the BatchNorm's running statistics and the projections see it
    m.train()
    before = branch.norm.running_mean.clone()
    m.encode_audio_spaces(chunks)
    assert not torch.equal(branch.norm.running_mean, before)
    assert m.audio.proj.in_features == m.audio.timbre_width * 2 + branch.width
    m.eval()
    m.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m", device="cpu", cache_dir=False)
    assert loaded.config.dynamics_branch and loaded.audio.dynamics is not None
    np.testing.assert_allclose(loaded.embed_audio(clips[:2]), m.embed_audio(clips[:2]), atol=1e-5)
    # a config.json without the key (saved before the branch existed) rebuilds the tower without it
    old = KGJointModel(ModelConfig(**SMALL, dynamics_branch=False), cache_dir=False, device="cpu")
    old.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("dynamics_branch", "dynamics_mfcc"):
        meta["model"].pop(key)
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    again = load_model(tmp_path / "old", device="cpu", cache_dir=False)
    assert again.audio.dynamics is None
    np.testing.assert_allclose(again.embed_audio(clips[:1]), old.embed_audio(clips[:1]), atol=1e-6)
    with pytest.raises(ValueError, match="dynamics_mfcc"):
        ModelConfig(dynamics_branch=True, dynamics_mfcc=65)


def test_dynamics_skip_keeps_the_statistics_geometry_in_both_spaces(clips, tmp_path):
    """With ``dynamics_skip`` w each space's vector is normalise(unit(projection) + w *
    unit(Q s)), Q a fixed orthonormal map of the branch's standardised statistics s: no new
    weights, the same Q on every build, and as w grows cosines between chunks tend to those
    of the statistics."""
    import torch.nn.functional as F

    from kgjemb.model.audio_tower import AudioTower, fixed_orthonormal

    q = fixed_orthonormal(16, 160)
    assert q.shape == (16, 160) and torch.allclose(q @ q.T, torch.eye(16), atol=1e-5)
    assert torch.equal(q, fixed_orthonormal(16, 160))  # deterministic
    tall = fixed_orthonormal(160, 16)
    assert torch.allclose(tall.T @ tall, torch.eye(16), atol=1e-5)
    with pytest.raises(ValueError, match="dynamics_skip"):
        ModelConfig(**SMALL, dynamics_skip=0.5)  # needs the branch
    with pytest.raises(ValueError, match="dynamics_skip"):
        ModelConfig(**SMALL, dynamics_branch=True, dynamics_skip=-1.0)
    torch.manual_seed(0)
    plain = AudioTower(ModelConfig(**SMALL, dynamics_branch=True)).eval()
    cfg = ModelConfig(**SMALL, dynamics_branch=True, dynamics_skip=0.5)
    torch.manual_seed(0)
    tower = AudioTower(cfg).eval()
    assert set(tower.state_dict()) == set(plain.state_dict())  # a fixed map: nothing to save
    m = KGJointModel(cfg, cache_dir=tmp_path / "feat", device="cpu")
    chunks, _ = m.chunk_batch(clips[:3])
    with torch.no_grad():
        joint, track = tower.forward_spaces(chunks)
        h = tower.trunk(chunks)
        stats = h[:, -tower.dynamics.width:]
        skip = 0.5 * F.normalize(stats @ tower.skip.T, dim=-1)
        for got, proj in ((joint, tower.proj), (track, tower.track_proj)):
            want = F.normalize(F.normalize(proj(h), dim=-1) + skip, dim=-1)
            assert torch.allclose(got, want, atol=1e-5)
        assert torch.allclose(tower(chunks), joint, atol=1e-6)
        # the projections alone (the same weights without the skip) give other vectors
        assert not torch.allclose(plain(chunks), joint, atol=1e-3)
        tower.skip_weight = 1e4  # the statistics' geometry dominates
        big, _ = tower.forward_spaces(chunks)
        geo = F.normalize(stats @ tower.skip.T, dim=-1)
        assert torch.allclose(big @ big.T, geo @ geo.T, atol=1e-3)
    m.eval()
    m.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m", device="cpu", cache_dir=False)
    assert loaded.config.dynamics_skip == 0.5
    np.testing.assert_allclose(loaded.embed_audio(clips[:2]), m.embed_audio(clips[:2]), atol=1e-5)


def test_dynamics_modulation_is_each_band_groups_level_spectrum(clips, tmp_path):
    """With ``dynamics_modulation`` the branch appends each chunk's modulation spectrum:
    8 groups of mel bands, the |FFT| of each group's level over 120-frame Hann windows
    (mean removed), bins 2-33 averaged four at a time, log1p, averaged over the windows
    (checked against numpy); the skip weighs the 160 MFCC statistics and the 64 modulation
    numbers equally; it trains, saves and loads; and it needs the branch."""
    import torch.nn.functional as F

    from kgjemb.model.audio_tower import AudioTower

    with pytest.raises(ValueError, match="dynamics_modulation"):
        ModelConfig(**SMALL, dynamics_modulation=True)
    cfg = ModelConfig(**SMALL, dynamics_branch=True, dynamics_skip=0.5, dynamics_modulation=True)
    m = KGJointModel(cfg, cache_dir=tmp_path / "feat", device="cpu")
    branch = m.audio.dynamics
    assert branch.blocks == (160, 64) and branch.width == 224
    chunks, _ = m.chunk_batch(clips[:2])  # (n_chunks, n_features, frames)
    mel = chunks[:, : cfg.frontend.n_mels].numpy().astype(np.float64)
    got = branch.modulation(chunks[:, : cfg.frontend.n_mels]).numpy()  # (n_chunks, 64)
    for i in range(len(mel)):
        bands = mel[i].reshape(8, 8, -1).mean(axis=1)  # 64 mel bands → 8 groups of 8
        wins = np.stack([bands[:, s : s + 120] for s in range(0, bands.shape[1] - 119, 60)])
        wins = wins - wins.mean(axis=2, keepdims=True)
        mag = np.abs(np.fft.rfft(wins * np.hanning(120), axis=2))[:, :, 2:34]
        want = np.log1p(mag.reshape(len(wins), 8, 8, 4).mean(axis=3)).mean(axis=0).ravel()
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-4)
    assert got.std() > 0
    # the pre-BatchNorm statistics hold the MFCC ones first, the modulation spectrum after
    seen = []
    branch.norm.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    m.eval()
    with torch.no_grad():
        h = m.audio.trunk(chunks)
    np.testing.assert_allclose(seen[-1][:, 160:].numpy(), got, rtol=1e-5, atol=1e-5)
    # equal weight in the skip: each block's columns scaled by 1/sqrt(its width) before the fixed map
    stats = h[:, -224:]
    scale = m.audio.skip_scale
    assert torch.allclose(scale[:160], torch.full((160,), 160 ** -0.5)) and torch.allclose(scale[160:], torch.full((64,), 64 ** -0.5))
    want = 0.5 * F.normalize((stats * scale) @ m.audio.skip.T, dim=-1)
    assert torch.allclose(m.audio._skip(h), want, atol=1e-6)
    short = AudioTower(cfg).eval()(torch.randn(2, 64 + 12, 50) * 10 - 40)  # shorter than a window
    assert short.shape == (2, 64) and torch.isfinite(short).all()
    m.train()
    before = branch.norm.running_mean[160:].clone()
    m.encode_audio_spaces(chunks)
    assert not torch.equal(branch.norm.running_mean[160:], before)
    m.eval()
    m.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m", device="cpu", cache_dir=False)
    assert loaded.config.dynamics_modulation and loaded.audio.dynamics.width == 224
    np.testing.assert_allclose(loaded.embed_audio(clips[:2]), m.embed_audio(clips[:2]), atol=1e-5)


def scipy_mfcc(mel: np.ndarray, n: int = 20) -> np.ndarray:
    import scipy.fft

    return scipy.fft.dct(mel.astype(np.float64), axis=0, type=2, norm="ortho")[:n]
