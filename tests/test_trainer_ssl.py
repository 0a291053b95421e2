"""The self-supervised audio↔audio term and augmented training on the real CI catalog:
its positives are two crops of one recording, it is a registered loss, and
``kgjemb train --unlabelled DIR`` trains on a small folder and rejects a bad one."""
import dataclasses
import json
import shutil

import numpy as np
import torch

from kgjemb.train.config import load_config
from kgjemb.train.ssl import AudioSSL
from kgjemb.train.trainer import Trainer

TINY = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 8, "views_per_track": 2}
SSL = {**TINY, "ssl": True, "moco_queue": 16, "ssl_unlabelled_per_step": 3, "augment": {"enabled": True}}


def _unlabelled(ci_catalog, folder, n=4):
    """A folder of ``n`` of the catalog's audio files (nested one level), a stray text file,
    and a symlink to a file outside it (which must not be read)."""
    files = sorted((ci_catalog / "audio").iterdir())[:n]
    (folder / "sub").mkdir(parents=True)
    for i, f in enumerate(files):
        shutil.copy(f, (folder / "sub" if i % 2 else folder) / f.name)
    (folder / "notes.txt").write_text("not audio")
    outside = folder.parent / "outside.flac"
    shutil.copy(files[-1], outside)
    (folder / "escape.flac").symlink_to(outside)
    return files


def _first_step(tr):
    """The first step's (order, rows, frames, crops) and its ssl inputs, computed twice, in
    eval mode (no dropout: comparisons are of the views alone)."""
    tr.model.eval()
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    rows, _ = tr._batch_rows(order, 0, np.random.default_rng(0))
    frames = int(1.5 * tr.data.frames_per_s)
    with torch.no_grad():
        x = tr.data.crops(rows, frames, np.random.default_rng(0))
        twice = [tr.ssl.inputs(rows, tr.model.encode_audio_spaces(x), frames, global_step=0) for _ in range(2)]
    return order, rows, frames, x, *twice


def test_ssl_positives_are_two_crops_of_one_recording(ci_export, ci_catalog, tmp_path):
    from tests.fixtures_model import TRAIN_CACHE

    folder = tmp_path / "unl"
    files = _unlabelled(ci_catalog, folder)
    cfg = load_config(preset="ci", overrides=SSL)
    tr = Trainer(ci_export, cfg, out=tmp_path / "m", cache_dir=TRAIN_CACHE, progress=False, unlabelled=folder)
    assert sorted(p.name for p in tr.data.unlabelled_paths) == sorted(f.name for f in files)  # no escape, no txt
    assert tr.objective.weights["ssl"] == cfg.w_ssl and "ssl" in tr.objective.parts  # from the loss registry
    order, rows, frames, x, ssl, again = _first_step(tr)
    n_tracks = len(ci_export.nodes["Track"])
    ids = ssl["ids"].numpy()
    assert list(ids[ids < n_tracks]) == sorted(set(rows.tolist()))  # every track of the step, once
    assert len(ids[ids >= n_tracks]) == 3 and set(ids[ids >= n_tracks] - n_tracks) <= set(range(len(files)))
    inp = ssl["inputs"]
    assert inp["a"].shape == inp["b"].shape == (len(ids), cfg.model.dim)
    assert ssl["key_x"].shape == (len(ids), cfg.model.frontend.n_features, frames)
    torch.testing.assert_close(again["key_x"], ssl["key_x"])  # seeded by (seed, step, view)
    # without augmentation each second view is a window of its own recording's features
    plain = AudioSSL(dataclasses.replace(cfg, augment=cfg.augment.only()), tr.data, tr.model, tr.device)
    with torch.no_grad():
        views = plain.inputs(rows, tr.model.encode_audio_spaces(x), frames, global_step=0)
    for rid, view in zip(views["ids"].tolist(), views["key_x"].numpy()):
        f = (tr.data.feats[rid] if rid < n_tracks else tr.data.unlabelled[rid - n_tracks]).astype(np.float32)
        starts = np.flatnonzero((f.T == view[:, 0]).all(axis=1))  # frames equal to the view's first
        assert any(np.array_equal(f[:, s : s + frames], view) for s in starts), rid
    loss = tr.objective.parts["ssl"]
    matched = float(loss(inp["a"], inp["b"], positives=inp["positives"]))
    shuffled = [float(loss(inp["a"], inp["b"][torch.from_numpy(np.random.default_rng(s).permutation(len(ids)))]))
                for s in range(5)]
    assert matched < min(shuffled), (matched, shuffled)
    # two steps: the term trains, and its queue fills with keys of the recordings it saw
    outs = [tr.step(order, s, np.random.default_rng(s), s) for s in range(2)]
    assert all(np.isfinite(o["ssl"]) and o["ssl"] > 0 for o in outs)
    keys, key_ids = tr.ssl.queue.filled()
    assert keys.shape[0] == min(16, int(tr.ssl.queue.count)) and len(key_ids) and (key_ids >= 0).all()


def test_ssl_folder_positives_pair_recordings_of_one_folder(ci_export, ci_catalog, tmp_path):
    """``ssl_positives = "folder"``: an unlabelled recording's second view is a crop of another
    recording of its folder, same-folder recordings are not negatives (in the batch and in
    the queue's ids), and with ``ssl_augment`` off every view is the recording as it is."""
    import pytest

    from tests.fixtures_model import TRAIN_CACHE

    folder = tmp_path / "unl"
    _unlabelled(ci_catalog, folder)  # two recordings in unl/, two in unl/sub/
    over = {**SSL, "ssl_positives": "folder", "ssl_augment": False, "ssl_unlabelled_per_step": 4}
    cfg = load_config(preset="ci", overrides=over)
    tr = Trainer(ci_export, cfg, out=tmp_path / "m", cache_dir=TRAIN_CACHE, progress=False, unlabelled=folder)
    paths = tr.data.unlabelled_paths
    groups = {p.parent.name for p in paths}
    assert groups == {"unl", "sub"} and len(set(tr.ssl.folder.tolist())) == 2
    for i, p in enumerate(paths):
        assert (tr.ssl.folder == tr.ssl.folder[i]).sum() == sum(q.parent == p.parent for q in paths)
    unl = np.arange(len(paths))
    partner = tr.ssl.partners(unl, np.random.default_rng(0))
    assert (partner != unl).all() and (tr.ssl.folder[partner] == tr.ssl.folder[unl]).all()
    order, rows, frames, x, ssl, again = _first_step(tr)
    torch.testing.assert_close(again["key_x"], ssl["key_x"])  # seeded by (seed, step, view)
    n_tracks, n_l = len(ci_export.nodes["Track"]), len(set(rows.tolist()))
    ids, pos = ssl["ids"].numpy(), ssl["inputs"]["positives"].numpy()
    got = ids[n_l:] - n_tracks  # folder numbers of the step's unlabelled recordings
    assert sorted(got.tolist()) == sorted(tr.ssl.folder.tolist())
    assert (pos[n_l:, n_l:] == (got[:, None] == got[None, :])).all() and not pos[:n_l, n_l:].any()
    # each unlabelled second view is an unaugmented window of a recording of its folder, not of itself
    for view, g in zip(ssl["key_x"].numpy()[n_l:], got):
        hits = [i for i, f in enumerate(tr.data.unlabelled)
                if any(np.array_equal(f.astype(np.float32)[:, s : s + frames], view) for s in range(f.shape[1] - frames + 1))]
        assert len(hits) == 1 and tr.ssl.folder[hits[0]] == g
    out = tr.step(order, 0, np.random.default_rng(0), 0)
    assert np.isfinite(out["ssl"]) and out["ssl"] > 0
    with pytest.raises(ValueError, match="ssl_positives"):
        load_config(preset="ci", overrides={"ssl_positives": "album"})


def test_cli_train_unlabelled(ci_graph_home, ci_catalog, tmp_path):
    from typer.testing import CliRunner

    from kgjemb.cli import app

    folder = tmp_path / "unl"
    _unlabelled(ci_catalog, folder, n=3)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "ssl_unlabelled_per_step": 2, "augment": {"enabled": True}}))
    out = tmp_path / "model"
    base = ["train", "--home", str(ci_graph_home), "--preset", "ci", "--config", str(cfg), "--no-progress"]
    result = CliRunner().invoke(app, [*base, "--out", str(out), "--unlabelled", str(folder)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unlabelled"]["recordings"] == 3 and metrics["config"]["ssl"] is True
    assert np.isfinite(metrics["epochs"][0]["loss"]["ssl"])
    for bad, says in ((tmp_path / "missing", "does not exist"), (cfg, "not a folder"), (tmp_path / "model", "no audio files")):
        res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "m2"), "--unlabelled", str(bad)])
        assert res.exit_code == 1 and says in res.output and "Traceback" not in res.output, res.output


def test_augmented_ssl_run_resumes_exactly(ci_export, ci_catalog, tmp_path):
    """Augmentation and ssl draws derive from (seed, step, view) and the ssl queue is
    checkpointed: an interrupted-and-resumed run equals an uninterrupted one."""
    from tests.fixtures_model import TRAIN_CACHE

    folder = tmp_path / "unl"
    _unlabelled(ci_catalog, folder, n=3)
    cfg = load_config(preset="ci", overrides={**SSL, "epochs": 2, "steps_per_epoch": 2, "eval_every": 2})

    def trainer(out):
        return Trainer(ci_export, cfg, out=tmp_path / out, cache_dir=TRAIN_CACHE, progress=False, unlabelled=folder)

    full = trainer("full")
    full.fit()
    trainer("part").fit(stop_after=1)
    resumed = trainer("part")
    resumed.fit(resume=True)
    a, b = full.model.trainable_state_dict(), resumed.model.trainable_state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [e["loss"] for e in full.history] == [e["loss"] for e in resumed.history]
    assert torch.equal(full.ssl.queue.filled()[0], resumed.ssl.queue.filled()[0])


def test_cli_train_compare_feeds_unlabelled_audio_to_the_ssl_systems(ci_graph_home, ci_catalog, tmp_path):
    """``train-compare --unlabelled DIR``: the systems with the term on train on DIR, the
    others without it; a bad folder is an error before any training."""
    from typer.testing import CliRunner

    from kgjemb.cli import app

    folder = tmp_path / "unl"
    _unlabelled(ci_catalog, folder, n=3)
    over = json.dumps({**TINY, "ssl_unlabelled_per_step": 2, "eval_every": 1})
    base = ["train-compare", "--home", str(ci_graph_home), "--preset", "ci", "--override", over, "--no-progress"]
    out = tmp_path / "cmp"
    res = CliRunner().invoke(app, [*base, "--out", str(out), "--system", "full", "--system", "full-ssl",
                                   "--unlabelled", str(folder)])
    assert res.exit_code == 0, res.output
    ssl_run = json.loads((out / "full-ssl-s0" / "metrics.json").read_text())
    plain = json.loads((out / "full-s0" / "metrics.json").read_text())
    assert ssl_run["unlabelled"]["recordings"] == 3 and np.isfinite(ssl_run["epochs"][0]["loss"]["ssl"])
    assert "ssl" not in plain["epochs"][0]["loss"] and not plain.get("unlabelled")
    bad = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "x"), "--system", "full-ssl",
                                   "--unlabelled", str(tmp_path / "missing")])
    assert bad.exit_code == 1 and "does not exist" in bad.output and not (tmp_path / "x").exists(), bad.output
