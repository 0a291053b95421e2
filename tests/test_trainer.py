"""Trainer on the real CI demo catalog: loss falls, checkpoint+resume equals an
uninterrupted run, seeds reproduce, outputs are complete; diagnostics are sane."""
import json

import numpy as np
import pytest
import torch

from kgjemb.train.config import load_config
from kgjemb.train.diagnostics import effective_rank
from kgjemb.errors import KgjembError
from kgjemb.train.trainer import Trainer, check_resumable

TINY = {"epochs": 2, "steps_per_epoch": 2, "batch_size": 8, "views_per_track": 2}


# ``ci_export`` (the ci catalog's GraphExport) is the session fixture of tests/fixtures_bundle.py


def _trainer(export, out, **overrides):
    from tests.fixtures_model import TRAIN_CACHE

    cfg = load_config(preset="ci", overrides={**TINY, **overrides})
    return Trainer(export, cfg, out=out, cache_dir=TRAIN_CACHE, progress=False)


def _state(trainer):
    return {k: v.clone() for k, v in trainer.model.trainable_state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loss_falls_on_a_fixed_batch(ci_export, tmp_path):
    tr = _trainer(ci_export, tmp_path / "m")
    tr.model.train()
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    totals = [tr.step(order, 0, np.random.default_rng(1), s)["total"] for s in range(8)]
    assert all(np.isfinite(totals))
    assert np.mean(totals[-3:]) < 0.8 * np.mean(totals[:3]), totals
    # every loss term of the full model is active
    out = tr.step(order, 0, np.random.default_rng(1), 0)
    assert {"text", "swap", "track", "entity"} <= set(out)


def test_ablation_has_only_text_terms_and_queue_fills(ci_export, tmp_path):
    tr = _trainer(ci_export, tmp_path / "m", use_graph_positives=False, moco_queue=12)
    tr.model.train()
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    for s in range(2):
        out = tr.step(order, s, np.random.default_rng(s), s)
        assert "track" not in out and "entity" not in out and "text" in out and np.isfinite(out["total"])
    keys, key_rows = tr.queue.filled()
    assert keys.shape == (12, tr.model.dim) and len(key_rows) == 12
    assert set(key_rows.tolist()) <= set(order[:16].tolist())  # the most recent batches
    # the keys come from the momentum encoder: an EMA that trails the online audio tower
    online, key = dict(tr.model.audio.named_parameters()), dict(tr.key_audio.named_parameters())
    assert not any(p.requires_grad for p in key.values())
    moved = [n for n in online if not torch.equal(online[n].detach(), key[n])]
    assert moved  # the online tower moved ahead of its EMA copy
    # the checkpoint carries the key encoder, so a resumed run continues the same EMA
    tr.save_checkpoint(0)
    again = _trainer(ci_export, tmp_path / "m", use_graph_positives=False, moco_queue=12)
    again.load_checkpoint()
    assert _same(dict(again.key_audio.state_dict()), dict(tr.key_audio.state_dict()))
    assert torch.equal(again.queue.filled()[0], keys) and torch.equal(again.queue.filled()[1], key_rows)
    assert _trainer(ci_export, tmp_path / "n", moco_queue=12, moco_momentum=0.0).key_audio is None


def test_ablation_text_views_never_name_artist_or_album(ci_export, tmp_path):
    """Metadata sentences ("music by Bach", "from <album>") pair audio with the track's
    artist/album: graph positives in words. The ablation draws attribute views only."""
    names = set(ci_export.nodes["Artist"]["name"]) | set(ci_export.nodes["Album"]["title"])

    def naming(trainer):
        return [s for s in trainer.data.pool.strings if any(n.lower() in s.lower() for n in names)]

    assert not naming(_trainer(ci_export, tmp_path / "a", use_graph_positives=False, views_per_track=8))
    assert naming(_trainer(ci_export, tmp_path / "b", use_graph_positives=False, metadata_views=True, views_per_track=8))
    assert naming(_trainer(ci_export, tmp_path / "c", views_per_track=8))  # the full model keeps them


def test_objective_comes_from_the_loss_registry(ci_export, tmp_path):
    """Every term the trainer optimises is a registered loss built from the config."""
    from kgjemb.train.losses import InfoNCELoss, TripletLoss

    tr = _trainer(ci_export, tmp_path / "m", track_loss="triplet", triplet_mining="random", triplet_margin=0.3)
    parts = tr.objective.parts
    assert set(parts) == {"text", "swap", "track", "entity"}
    assert all(isinstance(parts[k], InfoNCELoss) for k in ("text", "swap", "entity"))
    assert isinstance(parts["track"], TripletLoss) and parts["track"].mining == "random" and parts["track"].margin == 0.3
    assert all(parts[k].logit_scale is tr.model.logit_scale for k in ("text", "swap", "entity"))  # saved with the model
    assert tr.objective.weights == {"text": 1.0, "swap": 0.5, "track": 1.0, "entity": 0.5}
    with pytest.raises(ValueError, match="semi-hard"):
        load_config(preset="ci", overrides={"triplet_mining": "hardest"})
    with pytest.raises(ValueError, match="info_nce"):
        load_config(preset="ci", overrides={"track_loss": "moco"})


@pytest.mark.parametrize("mining", ["random", "hard", "semi-hard"])
def test_triplet_mining_choices_train(ci_export, tmp_path, mining):
    """``track_loss: triplet`` with each mining choice trains: finite track loss, and the
    track head (where the track loss lives) moves."""
    tr = _trainer(ci_export, tmp_path / "m", track_loss="triplet", triplet_mining=mining)
    tr.model.train()
    head = tr.model.audio.track_proj.weight.detach().clone()
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    outs = [tr.step(order, s, np.random.default_rng(s), s) for s in range(2)]
    assert all(np.isfinite(o["track"]) and o["track"] >= 0 for o in outs)
    assert not torch.equal(head, tr.model.audio.track_proj.weight)


def test_track_loss_trains_the_track_head_not_the_joint_projection(ci_export, tmp_path):
    """With ``track_head`` the track↔track term reaches the joint projection no more: with
    only that term weighted, the joint head stays put while the track head moves."""
    only_track = {"w_text": 0.0, "w_swap": 0.0, "w_entity": 0.0}
    tr = _trainer(ci_export, tmp_path / "m", **only_track)
    shared = _trainer(ci_export, tmp_path / "s", model={"track_head": False}, **only_track)
    for t in (tr, shared):
        t.model.train()
        t.optim = torch.optim.SGD([p for p in t.model.parameters() if p.requires_grad], lr=0.1)
    joint, head, joint_shared = (tr.model.audio.proj.weight.detach().clone(), tr.model.audio.track_proj.weight.detach().clone(),
                                 shared.model.audio.proj.weight.detach().clone())
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    assert tr.step(order, 0, np.random.default_rng(0), 0)["track"] > 0
    shared.step(order, 0, np.random.default_rng(0), 0)
    assert torch.equal(joint, tr.model.audio.proj.weight) and not torch.equal(head, tr.model.audio.track_proj.weight)
    assert not torch.equal(joint_shared, shared.model.audio.proj.weight)  # without the head it bends the joint space


def test_track_timbre_grad_keeps_the_track_term_off_the_timbre_cnn(ci_export, tmp_path):
    """``track_timbre_grad = 0``: a step of the track↔track term alone trains the track
    head and the pitch (chroma) branch but leaves the log-mel CNN where it was."""
    only_track = {"w_text": 0.0, "w_swap": 0.0, "w_entity": 0.0, "track_timbre_grad": 0.0}
    tr = _trainer(ci_export, tmp_path / "m", **only_track)
    tr.model.train()
    tr.optim = torch.optim.SGD([p for p in tr.model.parameters() if p.requires_grad], lr=0.1)
    before = {n: p.detach().clone() for n, p in tr.model.audio.named_parameters()}
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    assert tr.step(order, 0, np.random.default_rng(0), 0)["track"] > 0
    moved = {n for n, p in tr.model.audio.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert "track_proj.weight" in moved and any(n.startswith("pitch.") for n in moved)
    assert not any(n.startswith(("blocks.", "input_norm.", "proj.")) for n in moved)
    with pytest.raises(ValueError, match="track_pitch_grad"):
        load_config(preset="ci", overrides={"track_pitch_grad": 1.5})


@pytest.mark.parametrize("as_negatives", [True, False])
def test_text_pairs_as_negatives_masks_each_anchors_partners(ci_export, tmp_path, as_negatives):
    """``text_pairs_as_negatives=False``: in the text↔audio term an anchor's positive and
    its hard negatives are marked not-negative (both directions); True keeps the plain
    attribute rule, under which some of those pairs are negatives."""
    tr = _trainer(ci_export, tmp_path / "m", batch_size=12, text_pairs_as_negatives=as_negatives)
    real, seen = tr.objective, {}

    def capture(inputs, output_dict):  # the real objective, its inputs kept for inspection
        seen.update(inputs)
        return real(inputs, output_dict=output_dict)

    tr.objective = capture
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    tr.step(order, 0, np.random.default_rng(0), 0)
    n_pairs = len(seen["track"]["a"])
    pos = seen["text"]["positives"].numpy()  # (R, R)
    p = np.arange(n_pairs)
    h = 2 * n_pairs + np.arange(len(tr._hard_anchor))
    partners = np.concatenate([pos[p, n_pairs + p], pos[n_pairs + p, p], pos[tr._hard_anchor, h], pos[h, tr._hard_anchor]])
    assert n_pairs >= 2 and len(h) >= 1
    assert partners.all() if not as_negatives else not partners.all()


@pytest.mark.parametrize("moves", [False, True])
def test_entity_term_moves_the_audio_tower_only_when_asked(ci_export, tmp_path, moves):
    """By default entity vectors follow the audio (the term trains the entity tower, not
    the audio tower); ``entity_moves_audio`` lets it pull the audio too."""
    only_entity = {"w_text": 0.0, "w_swap": 0.0, "w_track": 0.0, "entity_moves_audio": moves}
    tr = _trainer(ci_export, tmp_path / "m", **only_entity)
    tr.model.train()
    tr.optim = torch.optim.SGD([p for p in tr.model.parameters() if p.requires_grad], lr=0.1)
    audio, entity = tr.model.audio.proj.weight.detach().clone(), tr.model.entity.head.weight.detach().clone()
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    assert tr.step(order, 0, np.random.default_rng(0), 0)["entity"] > 0
    assert not torch.equal(entity, tr.model.entity.head.weight)
    assert torch.equal(audio, tr.model.audio.proj.weight) is not moves


def test_entity_inputs_match_the_per_track_reference(ci_export, tmp_path):
    """The entity term's inputs, gathered per entity label, equal the per-track reading:
    the i-th entity vector is the sampled entity of the i-th batch track, and it counts every
    batch track it links to as a positive; the gradient reaches the entity tower alike."""
    from kgjemb.train.trainer import LABELS

    tr = _trainer(ci_export, tmp_path / "m")
    tr.model.train()
    rows = np.random.default_rng(1).choice(tr.data.train_rows, size=24, replace=False)
    a = torch.nn.functional.normalize(torch.randn(len(rows), tr.model.dim, generator=torch.Generator().manual_seed(0)),
                                      dim=-1)
    got = tr._entity_inputs(rows, a, np.random.default_rng(7))
    assert got is not None and len(set(got["positives"].sum(1).tolist())) > 1
    # the reference: the same draws, read one batch track at a time
    uniq, first = np.unique(rows, return_index=True)
    label, erow = tr.data.index.sample_entities(uniq, np.random.default_rng(7))
    ok = label >= 0
    uniq, label, erow = uniq[ok], label[ok], erow[ok]
    assert len(set(label.tolist())) > 1  # several entity labels in one batch
    inc = (tr.data.index.track_artist, tr.data.index.track_album, tr.data.index.track_attr)
    tv = tr.bank[torch.from_numpy(tr.sub_rows)].index_copy(
        0, torch.from_numpy(tr.sub_pos[np.unique(rows)]), a.detach()[torch.from_numpy(first)])
    tr.model.eval()  # no dropout: both passes see the same entity vectors
    ent = tr.model.encode_entities(tr.graph_inputs.with_track_audio(tv))
    want = torch.stack([ent[LABELS[lb]][tr.sub_index[LABELS[lb]][tr.data.index.entity_ids[LABELS[lb]][r]]]
                        for lb, r in zip(label, erow)])
    linked = np.stack([inc[lb][uniq, r].toarray().ravel() > 0 for lb, r in zip(label, erow)])
    got = tr._entity_inputs(rows, a, np.random.default_rng(7))
    assert torch.equal(got["positives"], torch.from_numpy(linked))
    torch.testing.assert_close(got["a"], want, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(got["b"], a[torch.from_numpy(first[ok])])
    got["a"].sum().backward()
    assert tr.model.entity.head.weight.grad is not None and tr.model.entity.head.weight.grad.abs().sum() > 0


def test_resume_equals_uninterrupted_and_seeds_reproduce(ci_export, tmp_path):
    full = _trainer(ci_export, tmp_path / "full")
    full.fit()
    part = _trainer(ci_export, tmp_path / "part")
    part.fit(stop_after=1)
    assert json.loads((tmp_path / "part" / "metrics.json").read_text())["epochs"][-1]["epoch"] == 1
    resumed = _trainer(ci_export, tmp_path / "part")
    resumed.fit(resume=True)
    assert _same(_state(full), _state(resumed))
    assert [e["loss"] for e in full.history] == [e["loss"] for e in resumed.history]
    # a resumed run with another config is refused before any work
    with pytest.raises(KgjembError, match="another training config"):
        check_resumable(tmp_path / "part", load_config(preset="ci", overrides={**TINY, "lr": 0.5}))
    with pytest.raises(KgjembError, match="no checkpoint"):
        check_resumable(tmp_path / "nothing", load_config(preset="ci", overrides=TINY))
    # another seed gives another model
    other = _trainer(ci_export, tmp_path / "other", seed=1)
    assert not _same(_state(_trainer(ci_export, tmp_path / "again")), _state(other))


def test_trained_model_dir_is_complete(trained_model_dir):
    from kgjemb.model import load_model

    model = load_model(trained_model_dir, device="cpu")
    metrics = json.loads((trained_model_dir / "metrics.json").read_text())
    cfg = json.loads((trained_model_dir / "train_config.json").read_text())
    assert len(metrics["epochs"]) == cfg["epochs"]
    split = metrics["split"]
    assert split["val"] and split["train"] and not set(split["val"]) & set(split["train"])
    last = metrics["epochs"][-1]
    assert last["val"]["track_track"]["same_artist"]["n"] > 0
    for kind, m in last["val"]["text_audio"].items():
        assert 0.0 <= m["map"] <= m["recall"] + 1e-9 <= 1.0 + 1e-9, kind
    vec = model.embed_text(["a slow chorale for organ"])
    assert vec.shape == (1, model.dim) and abs(np.linalg.norm(vec) - 1) < 1e-4
    diag = json.loads((trained_model_dir / "diagnostics.json").read_text())
    for name in ("audio", "text"):
        assert 1.0 <= diag[name]["effective_rank"] <= min(diag[name]["dim"], diag[name]["n"])
    for png in ("spectrum.png", "scatter.png"):
        assert (trained_model_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_effective_rank_bounds():
    rng = np.random.default_rng(0)
    rank1 = np.outer(rng.standard_normal(200), rng.standard_normal(16))
    assert effective_rank(rank1) == pytest.approx(1.0, abs=1e-6)
    iso = rng.standard_normal((4000, 16))
    assert 14.5 < effective_rank(iso) <= 16.0
    two = np.zeros((100, 8))
    two[:50, 0], two[50:, 1] = 1.0, 1.0  # centred: one direction
    assert effective_rank(two) == pytest.approx(1.0, abs=1e-6)


def test_cli_train_writes_a_model(ci_graph_home, tmp_path):
    from typer.testing import CliRunner

    from kgjemb.cli import app
    from kgjemb.model import load_model

    help_text = CliRunner().invoke(app, ["train", "--help"]).output
    assert "--no-graph-positives" in help_text and "--resume" in help_text
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "epochs": 1, "steps_per_epoch": 1}))
    out = tmp_path / "model"
    result = CliRunner().invoke(app, ["train", "--home", str(ci_graph_home), "--preset", "ci", "--config", str(cfg),
                                      "--out", str(out), "--no-progress", "--seed", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["epochs"] == 1 and summary["out"] == str(out)
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["seed"] == 3 and saved["steps_per_epoch"] == 1 and saved["model"]["dim"] == 64
    assert load_model(out, device="cpu").dim == 64
    bad = CliRunner().invoke(app, ["train", "--home", str(ci_graph_home), "--preset", "nope"])
    assert bad.exit_code == 2 and "choose from" in bad.output


def test_cli_train_compare_writes_the_quality_table(ci_graph_home, tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from kgjemb.cli import app

    out = tmp_path / "quality"
    tiny = json.dumps({**TINY, "epochs": 1, "steps_per_epoch": 1})
    result = CliRunner().invoke(app, ["train-compare", "--home", str(ci_graph_home), "--preset", "ci", "--override", tiny,
                                      "--out", str(out), "--no-progress", "--system", "full", "--system",
                                      "triplet-semihard", "--system", "text-only"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "quality.csv")
    assert set(table["system"]) == {"full", "triplet-semihard", "text-only", "random", "mfcc"}
    assert {"track_track:same_album", "track_track:same_artist", "track_track:same_work", "text_audio:all"} <= set(table["task"])
    mfcc = table[table["system"] == "mfcc"]  # the MFCC baseline scores track→track tasks only
    tasks = {"same_album", "same_artist", "same_work"}
    assert set(mfcc["task"]) == {f"{g}:{t}" for g in ("track_track", "track_catalog") for t in tasks}
    # among every track of the catalog a held-out track keeps its held-out album-mates and may
    # find more among the training tracks: at least as many queries count
    rnd = table[table["system"] == "random"].set_index("task")
    assert rnd.loc["track_catalog:same_album", "n"] >= rnd.loc["track_track:same_album", "n"] > 0
    assert {"track_catalog:same_album", "track_head_catalog:same_album"} <= set(table[table["system"] == "full"]["task"])
    assert mfcc["P@10"].between(0, 1).all() and table["P@1"].dropna().between(0, 1).all()
    head = table[table["task"] == "track_head:same_work"]
    assert set(head["system"]) == {"full", "triplet-semihard"}  # the ablation trains no track head
    saved = json.loads((out / "triplet-semihard-s0" / "train_config.json").read_text())
    assert saved["track_loss"] == "triplet" and saved["triplet_mining"] == "semi-hard"
    ranks = pd.read_csv(out / "ranks.csv")
    assert set(ranks["space"]) == {"audio", "text", "track"} and (ranks["effective_rank"] >= 1).all()
    assert set(ranks[ranks["space"] == "track"]["system"]) == {"full", "triplet-semihard"}
    assert "effective rank" in result.output
    assert table["mAP@10"].between(0, 1).all()
    cap = table["mAP@10 (÷min(k,|R|))"]  # AP ÷ min(k, |R|) >= AP ÷ |R|, both in [0, 1]
    assert cap.between(0, 1).all() and (cap >= table["mAP@10"] - 1e-9).all()
    assert (out / "full-s0" / "model.pt").is_file() and (out / "text-only-s0" / "model.pt").is_file()
    assert (out / "quality.md").read_text().startswith("| task | system |")
    assert "track_track:same_work" in result.output
    bad = CliRunner().invoke(app, ["train-compare", "--home", str(ci_graph_home), "--system", "audio-only"])
    assert bad.exit_code == 2 and "choose from" in bad.output
    bad = CliRunner().invoke(app, ["train-compare", "--home", str(ci_graph_home), "--override", "{not json"])
    assert bad.exit_code == 2
    bad = CliRunner().invoke(app, ["train-compare", "--home", str(ci_graph_home), "--split", "decade"])
    assert bad.exit_code == 2 and "choose from" in bad.output


def test_cli_train_compare_breaks_the_album_split_down_by_album(ci_graph_home, ci_export, tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from kgjemb.cli import app
    from kgjemb.train.config import load_config
    from kgjemb.train.split import make_split

    fraction = load_config(preset="ci").val_fraction
    out = tmp_path / "quality"
    tiny = json.dumps({**TINY, "epochs": 1, "steps_per_epoch": 1})
    result = CliRunner().invoke(app, ["train-compare", "--home", str(ci_graph_home), "--preset", "ci", "--override", tiny,
                                      "--out", str(out), "--no-progress", "--system", "full", "--split", "album",
                                      "--seed", "0", "--seed", "1"])
    assert result.exit_code == 0, result.output
    albums = pd.read_csv(out / "albums.csv")
    assert set(albums["system"]) == {"full", "mfcc", "random"} and set(albums["seed"]) == {0, 1}
    assert albums["P@10"].between(0, 1).all() and albums["P@1"].between(0, 1).all()
    # the rows are the seed's held-out albums, and their scored queries add up to the table's
    table = pd.read_csv(out / "quality.csv").set_index(["task", "system"])
    on = ci_export.edges[("Track", "ON", "Album")]
    for seed in (0, 1):
        held = set(make_split(ci_export, by="album", val_fraction=fraction, seed=seed).val_ids)
        rows = albums[(albums["seed"] == seed) & (albums["system"] == "full")]
        assert set(rows["album"]) <= set(on[on["src"].isin(held)]["dst"]) and len(rows)
    per_seed = albums[albums["system"] == "mfcc"].groupby("seed")["n"].sum()
    assert per_seed.mean() == table.loc[("track_catalog:same_album", "mfcc"), "n"]
    # the summary: one row per album, mean over the seeds that held it out
    md = (out / "albums.md").read_text()
    assert md.startswith("| title | album | seeds | queries | full P@10 |") and "mfcc P@1" in md
    assert md.count("\n") == 2 + albums["album"].nunique()
    assert "per held-out album" in result.output
    assert (out / "albums.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_work_positive_is_cropped_at_its_anchors_position():
    """``align``: a row that follows another is cut at the same relative position, so two
    renditions of one work give the same bars; other rows stay independent."""
    from types import SimpleNamespace

    from kgjemb.train.data import TrainData

    t = np.arange(400, dtype=np.float32)
    feats = [np.stack([t, -t]), np.stack([t, -t]) + 1000.0, np.stack([t, t])]  # (2, 400) each
    data = SimpleNamespace(feats=feats, pad_db=-100.0)
    rows = np.array([0, 1, 2])
    for seed in range(20):
        x = TrainData.crops(data, rows, 50, np.random.default_rng(seed), align=np.array([-1, 0, -1])).numpy()
        assert x.shape == (3, 2, 50)
        assert x[1, 0, 0] - 1000.0 == x[0, 0, 0]  # row 1 follows row 0: same start frame
        np.testing.assert_array_equal(x[1] - 1000.0, x[0])
    starts = {tuple(TrainData.crops(data, rows, 50, np.random.default_rng(s)).numpy()[:2, 0, 0]) for s in range(20)}
    assert any(a != b - 1000.0 for a, b in starts)  # without align the windows differ


def test_index_build_takes_the_trainers_final_vectors_which_equal_its_own(trained_model_dir, ci_export, tmp_path, caplog):
    """The trainer stores the vectors of its last pass over the audio; an index build of the
    same model, features and batches takes them, and they are bit for bit what it would
    compute. The build reads features through the trainer's cache: a cache filled by other
    code may hold other features for the same audio (and then the vectors are not used)."""
    import logging

    from kgjemb.index.bundle import Bundle
    from kgjemb.index.builder import BuildConfig, build_bundle, tracks_with_audio
    from kgjemb.model import load_model, stored_audio_vectors

    from tests.fixtures_model import TRAIN_CACHE

    model = load_model(trained_model_dir, device="cpu", cache_dir=TRAIN_CACHE / "audio")
    ids, paths = tracks_with_audio(ci_export)
    batch = BuildConfig().audio_batch_size
    stored = stored_audio_vectors(trained_model_dir, model=model, ids=ids, paths=paths, batch_size=batch)
    assert stored is not None and stored.shape == (len(ids), model.dim)
    assert np.array_equal(stored, model.embed_audio(paths, batch_size=batch))
    # other batches, tracks or features: not used
    assert stored_audio_vectors(trained_model_dir, model=model, ids=ids, paths=paths, batch_size=batch + 1) is None
    assert stored_audio_vectors(trained_model_dir, model=model, ids=ids[::-1], paths=paths[::-1], batch_size=batch) is None
    assert stored_audio_vectors(trained_model_dir, model=model, ids=ids, paths=[paths[1], *paths[1:]],
                                batch_size=batch) is None
    other = load_model(trained_model_dir, device="cpu", cache_dir=TRAIN_CACHE / "audio")
    with torch.no_grad():
        other.audio.proj.bias.add_(1.0)
    other.save(tmp_path / "other")  # other weights
    assert stored_audio_vectors(trained_model_dir, model=other, ids=ids, paths=paths, batch_size=batch) is None
    with caplog.at_level(logging.INFO, logger="kgjemb.index.builder"):
        out = build_bundle(tmp_path / "bundle", model_dir=trained_model_dir, export=ci_export, model=model,
                           config=BuildConfig(progress=False, export_text=False), cache_dir=TRAIN_CACHE)
    assert "took the vectors" in caplog.text
    assert np.array_equal(Bundle.open(out).track_vectors, stored)


def test_features_computed_in_worker_processes_equal_the_trainers_own(ci_export, tmp_path):
    """With ``threads`` > 1 the missing audio features are computed in worker processes
    (one torch thread each): the same bits as the single-threaded pass of the trainer."""
    from kgjemb.model import KGJointModel
    from kgjemb.train.data import TrainData, torch_threads

    cfg = load_config(preset="ci", overrides={"views_per_track": 1})
    feats = {}
    for threads in (1, 2):
        model = KGJointModel(cfg.model, cache_dir=tmp_path / f"t{threads}" / "audio", device="cpu")
        with torch_threads(1):
            data = TrainData.build(ci_export, model, cfg, cache_dir=tmp_path / f"t{threads}", progress=False,
                                   threads=threads)
        feats[threads] = data.feats
        assert model.features.computed == (len(data.train_rows) + len(data.val_rows) if threads == 1 else 0)
    assert [f is None for f in feats[1]] == [f is None for f in feats[2]]
    assert all(np.array_equal(a, b) for a, b in zip(feats[1], feats[2]) if a is not None)
