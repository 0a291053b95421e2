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


def test_ssl_positives_are_two_crops_of_one_recording(ci_export, ci_catalog, tmp_path):
    from tests.fixtures_model import TRAIN_CACHE

    folder = tmp_path / "unl"
    files = _unlabelled(ci_catalog, folder)
    cfg = load_config(preset="ci", overrides=SSL)
    tr = Trainer(ci_export, cfg, out=tmp_path / "m", cache_dir=TRAIN_CACHE, progress=False, unlabelled=folder)
    assert sorted(p.name for p in tr.data.unlabelled_paths) == sorted(f.name for f in files)  # no escape, no txt
    assert tr.objective.weights["ssl"] == cfg.w_ssl and "ssl" in tr.objective.parts  # from the loss registry
    tr.model.eval()  # no dropout: the comparison below is of the views alone
    order = np.random.default_rng(0).permutation(tr.data.train_rows)
    rows, _ = tr._batch_rows(order, 0, np.random.default_rng(0))
    frames = int(1.5 * tr.data.frames_per_s)
    with torch.no_grad():
        x = tr.data.crops(rows, frames, np.random.default_rng(0))
        ssl = tr.ssl.inputs(rows, tr.model.encode_audio_spaces(x), frames, global_step=0)
        again = tr.ssl.inputs(rows, tr.model.encode_audio_spaces(x), frames, global_step=0)
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
