"""Train the joint model with knowledge-graph positives (see ``kgjemb train --help``).

One step (batch of B track rows, random crop length in ``crop_s_min..crop_s_max``):

* **text ↔ audio**: each track is paired with one of its pre-drawn text views; symmetric
  InfoNCE with the model's learnable temperature, false negatives (another track in the
  batch that has every attribute the view states) masked out; plus a two-way loss against
  the view's attribute-swap twin (``w_swap``); optional MoCo queue (``moco_queue``): the
  audio keys of recent batches, computed by a momentum (EMA, ``moco_momentum``) copy of
  the audio tower, as extra negatives for each text view.
* **track ↔ track** (``use_graph_positives``): ~40 % of the batch are anchors, ~40 % their
  meta-path positives (same artist / album / work, similar artist) drawn from the training
  graph, ~20 % graph-aware hard negatives (most attributes shared, ≥ 1 differs);
  InfoNCE or triplet (``track_loss``, ``triplet_mining``) with graph-linked pairs masked,
  in the audio tower's track head space (``model.track_head``), so that renditions pulled
  together on other instruments do not bend the joint audio↔text space. A same-work
  (``VERSION_OF``) positive is cropped at the anchor's position (``align_versions``): the
  same bars on other instruments, so the audio tower must learn what the notes are, not
  only what the instruments sound like.
* **entity ↔ audio** (``use_graph_positives``): the entity tower runs over the training
  subgraph (track inputs = a memory bank of audio vectors, the batch's fresh ones), and
  each batch track's artist/album/attribute vector must pick out that track's audio (the
  audio side detached unless ``entity_moves_audio``).
* **audio ↔ audio** (``ssl``, :mod:`kgjemb.train.ssl`): a second crop of each of the step's
  training tracks (at its own position, augmented) must pick out the first, and so must two
  augmented crops of each of ``ssl_unlabelled_per_step`` unlabelled recordings
  (``unlabelled``); the rest of the batch (less graph-linked tracks) and, with
  ``moco_queue``, a queue of momentum-encoded keys of past second views are the negatives.

With ``augment.enabled`` every training crop first goes through
:func:`kgjemb.audio.augment.augment_features` (reverb, EQ, compression, noise, gain, pitch,
stretch, codec), drawn from a generator derived from (seed, global step, view), so a
resumed run augments as an uninterrupted one.

Every term is a loss from the registry (:mod:`kgjemb.train.losses`), built from the config
by :func:`build_objective` and summed with its weight by a :class:`MultiTaskLoss`.

Each epoch: validation metrics on the held-out works (:mod:`kgjemb.train.evaluate`),
``checkpoint.pt`` + ``metrics.json`` + the model (``KGJointModel.save``) written
atomically into ``out``. After the last epoch one pass over every track's audio
(:meth:`Trainer.embed_tracks`) feeds the final validation, the diagnostics and
``audio_vectors.npz`` (:mod:`kgjemb.model.vectors`: an index build of this model takes the
vectors from there instead of embedding every track again). ``resume=True`` continues
from ``checkpoint.pt``; per-epoch RNG streams are derived from (seed, epoch), so a resumed
run equals an uninterrupted one.

>>> result = train(export, load_config(preset="ci"), out="runs/ci")
>>> result.metrics["epochs"][-1]["val"]["track_track"]["same_artist"]["map"]
"""
from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from kgjemb.atomic import atomic_path, write_text
from kgjemb.audio.augment import augment_features, input_frames
from kgjemb.errors import KgjembError
from kgjemb.graph.base import GraphExport
from kgjemb.model import KGJointModel, save_audio_vectors
from kgjemb.train.config import TrainConfig
from kgjemb.train.data import TrainData, torch_threads, track_subgraph
from kgjemb.train.diagnostics import diagnose_model
from kgjemb.train.evaluate import evaluate_vectors
from kgjemb.train.losses import KeyQueue, MultiTaskLoss, get_loss, update_momentum
from kgjemb.train.positives import META_PATHS
from kgjemb.train.ssl import AudioSSL, view_rng

__all__ = ["TrainResult", "Trainer", "build_objective", "check_resumable", "train"]

logger = logging.getLogger(__name__)

CHECKPOINT, METRICS, TRAIN_CONFIG = "checkpoint.pt", "metrics.json", "train_config.json"
LABELS = ("Artist", "Album", "Attribute")
#: files per forward batch of the final pass over the audio: the index build's default
#: (``index.builder.BuildConfig.audio_batch_size``), which reuses the stored vectors only
#: when its batch size is the same
AUDIO_BATCH = 16


@dataclass
class TrainResult:
    """Where the model went and what happened: ``metrics`` is metrics.json's content."""

    out: Path
    metrics: dict


def _atomic_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, default=float))


def build_objective(config: TrainConfig, logit_scale: torch.nn.Parameter) -> MultiTaskLoss:
    """The training objective from the loss registry: ``text`` (InfoNCE text↔audio,
    ``w_text``), ``swap`` (one-way InfoNCE of a caption against its attribute-swap twin,
    ``w_swap``), ``track`` (``config.track_loss`` over graph positives, ``w_track``) and
    ``entity`` (InfoNCE entity↔audio, ``w_entity``), and with ``ssl`` also ``ssl``
    (InfoNCE between two crops of one recording, ``w_ssl``, at the fixed temperature
    ``ssl_temperature``). The other InfoNCE terms share the model's ``logit_scale``, so the
    learnt temperature is saved with the model."""
    nce = {"logit_scale": logit_scale}
    track_kwargs = nce
    if config.track_loss == "triplet":
        track_kwargs = {"margin": config.triplet_margin, "mining": config.triplet_mining}
    parts = {
        "text": (get_loss("info_nce", **nce), config.w_text),
        "swap": (get_loss("info_nce", symmetric=False, **nce), config.w_swap),
        "track": (get_loss(config.track_loss, **track_kwargs), config.w_track),
        "entity": (get_loss("info_nce", **nce), config.w_entity),
    }
    if config.ssl:
        scale = math.log(1.0 / config.ssl_temperature)
        parts["ssl"] = (get_loss("info_nce", init_logit_scale=scale, learn_temperature=False), config.w_ssl)
    return MultiTaskLoss(parts)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise KgjembError("device 'cuda' requested but no GPU is available; use --device cpu or auto")
    return torch.device(name)


class Trainer:
    """Holds the model, optimiser, precomputed data and state of one run."""

    def __init__(
        self,
        export: GraphExport,
        config: TrainConfig,
        *,
        out: str | os.PathLike,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = True,
        unlabelled: str | os.PathLike | None = None,
    ) -> None:
        if unlabelled is not None and not config.ssl:
            raise KgjembError("unlabelled audio only feeds the self-supervised term: set ssl: true (kgjemb train --unlabelled does)")
        if config.ssl and not config.ssl_labelled and (unlabelled is None or config.ssl_unlabelled_per_step < 1):
            raise KgjembError("ssl is on but has no audio: set ssl_labelled, or give unlabelled audio and ssl_unlabelled_per_step >= 1")
        if config.ssl and config.ssl_space == "track" and config.model.track_head and config.track_timbre_grad < 1:
            logger.warning("track_timbre_grad %.2f also scales what the ssl term (ssl_space 'track') sends into the "
                           "timbre CNN; set ssl_space 'joint' or track_timbre_grad 1 for full-strength ssl there",
                           config.track_timbre_grad)
        self.config = config
        self.unlabelled = None if unlabelled is None else Path(unlabelled)
        self.out = Path(out)
        self.progress = progress
        # the steps run on num_threads; passes that only infer (text views, the final pass over
        # the audio) on the process's threads: their outputs were measured bit-identical
        self.infer_threads = max(torch.get_num_threads(), config.num_threads)
        torch.set_num_threads(config.num_threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        self.device = _device(config.device)
        audio_cache = Path(cache_dir) / "audio" if cache_dir is not None else False
        self.model = KGJointModel(config.model, cache_dir=audio_cache, device=self.device, seed=config.seed)
        self.data = TrainData.build(export, self.model, config, cache_dir=cache_dir, progress=progress,
                                    unlabelled=unlabelled, threads=self.infer_threads)
        self.graph = config.use_graph_positives
        self.objective = build_objective(config, self.model.logit_scale)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optim = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        n_tracks = len(export.nodes["Track"])
        self.bank = torch.zeros(n_tracks, config.model.dim)  # audio vectors of every Track row
        # MoCo: keys of recent batches (ids = Track rows), from an EMA copy of the audio tower
        self.queue = KeyQueue(config.model.dim, config.moco_queue).to(self.device)
        self.ssl = AudioSSL(config, self.data, self.model, self.device) if config.ssl else None
        self.key_audio = None
        if config.moco_queue > 0 and config.moco_momentum > 0:
            self.key_audio = copy.deepcopy(self.model.audio).eval().requires_grad_(False)
        self.history: list[dict] = []
        self.start_epoch = 0
        self._paths = np.zeros(0, dtype=np.int64)  # meta-path code of each anchor of the step
        self._hard_anchor = np.zeros(0, dtype=np.int64)
        if self.graph:
            keep = np.zeros(n_tracks, dtype=bool)
            keep[self.data.train_rows] = True
            self.sub, self.sub_rows = track_subgraph(export, keep)
            self.sub_pos = np.full(n_tracks, -1, dtype=np.int64)
            self.sub_pos[self.sub_rows] = np.arange(len(self.sub_rows))
            self.graph_inputs = self.model.graph_inputs(self.sub)  # text features computed once
            self.sub_index = {lb: self.sub.node_index(lb) for lb in LABELS}
            self._init_bank()

    # -- state ----------------------------------------------------------------------------
    @torch.no_grad()
    def _init_bank(self) -> None:
        """Audio vectors of every training track (eval mode, a centre crop)."""
        self.model.audio.eval()
        frames = int(self.config.crop_s_max * self.data.frames_per_s)
        rng = np.random.default_rng([self.config.seed, 99])
        rows = self.data.train_rows
        for start in range(0, len(rows), 128):
            batch = rows[start : start + 128]
            x = self.data.crops(batch, frames, rng)  # (b, n_features, frames)
            self.bank[batch] = self.model.encode_audio_features(x).cpu()
        self.model.audio.train()

    def _state(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "config": self.config.to_dict(),
            "model": self.model.trainable_state_dict(),
            "optim": self.optim.state_dict(),
            "bank": self.bank,
            "queue": self.queue.state_dict(),
            "ssl_queue": None if self.ssl is None else self.ssl.queue.state_dict(),
            "key_audio": None if self.key_audio is None else self.key_audio.state_dict(),
            "history": json.dumps(self.history, default=float),
        }

    def save_checkpoint(self, epoch: int) -> None:
        with atomic_path(self.out / CHECKPOINT) as tmp:
            torch.save(self._state(epoch), tmp)

    def load_checkpoint(self) -> None:
        path = check_resumable(self.out, self.config)
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"], strict=False)
        self.optim.load_state_dict(state["optim"])
        self.bank = state["bank"]
        self.queue.load_state_dict(state["queue"])
        if self.ssl is not None:
            self.ssl.queue.load_state_dict(state["ssl_queue"])
        if self.key_audio is not None:
            self.key_audio.load_state_dict(state["key_audio"])
        self.history = json.loads(state["history"])
        self.start_epoch = int(state["epoch"]) + 1
        logger.info("resumed from %s after epoch %d", path, self.start_epoch)

    # -- one step -------------------------------------------------------------------------
    def _batch_rows(self, order: np.ndarray, step: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Track rows of one step and the number P of anchor/positive pairs: rows are
        ``[anchors (P), positives (P), hard negatives]`` with graph positives, else a slice
        of ``order`` (P = 0)."""
        cfg, b = self.config, self.config.batch_size
        if not self.graph:
            return order[step * b : (step + 1) * b], 0
        n_a = max(2, (2 * b) // 5)
        anchors = order[step * n_a : (step + 1) * n_a]
        pos, path = self.data.train_index.sample_track_positives(anchors, rng)
        ok = pos >= 0
        anchors, pos = anchors[ok], pos[ok]
        self._paths = path[ok]
        hard = np.zeros(0, dtype=np.int64)
        self._hard_anchor = np.zeros(0, dtype=np.int64)  # the anchor (index) each hard negative was drawn for
        if cfg.w_hard > 0 and len(anchors):
            hard = self.data.train_index.sample_hard_negatives(anchors[: max(1, b // 5)], rng)
            self._hard_anchor = np.flatnonzero(hard >= 0)
            hard = hard[hard >= 0]
        rows = np.concatenate([anchors, pos, hard])
        if len(rows) < 2:
            rows = order[step * n_a : step * n_a + 2]
            return rows, 0
        return rows, len(anchors)

    def step(self, order: np.ndarray, step: int, rng: np.random.Generator, global_step: int) -> dict[str, float]:
        cfg, data, model = self.config, self.data, self.model
        rows, n_pairs = self._batch_rows(order, step, rng)
        frames = int(rng.uniform(cfg.crop_s_min, cfg.crop_s_max) * data.frames_per_s)
        align = None
        if n_pairs > 0 and cfg.align_versions:  # a same-work positive: the same bars, other instruments
            align = np.full(len(rows), -1, dtype=np.int64)
            same = np.flatnonzero(self._paths == META_PATHS.index("same_work"))
            align[n_pairs + same] = same
        aug = cfg.augment
        n_in = input_frames(frames, aug) if aug.enabled else frames  # a stretch reads past the window
        x = data.crops(rows, n_in, rng, align=align).to(self.device)  # (R, n_features, n_in)
        if aug.enabled:
            x = augment_features(x, frames=frames, config=aug, frontend=cfg.model.frontend,
                                 rng=view_rng(cfg.seed, global_step, 0))
        grad = (cfg.track_timbre_grad, cfg.track_pitch_grad)
        a, g = model.encode_audio_spaces(x, track_grad=grad)  # (R, dim) joint space, (R, dim) track head space
        dev = self.device
        inputs: dict[str, dict] = {}
        ssl = None if self.ssl is None else self.ssl.inputs(rows, (a, g), frames, global_step)
        if ssl is not None:
            inputs["ssl"] = ssl["inputs"]

        vi = rng.integers(data.pool.view.shape[1], size=len(rows))
        s_idx = data.pool.view[rows, vi]  # (R,)
        t = model.text.project(data.pool.raw[s_idx].to(dev))  # (R, dim)
        rel = data.relevance(s_idx, rows) | (s_idx[:, None] == s_idx[None, :])  # (R, R) not negatives
        if n_pairs > 0 and not cfg.text_pairs_as_negatives:
            # an anchor's own positive and hard negatives: neither targets nor negatives of its views
            p, h = np.arange(n_pairs), 2 * n_pairs + np.arange(len(self._hard_anchor))
            rel[p, n_pairs + p] = rel[n_pairs + p, p] = True
            rel[self._hard_anchor, h] = rel[h, self._hard_anchor] = True
        inputs["text"] = {"a": t, "b": a, "positives": torch.from_numpy(rel).to(dev)}
        if cfg.moco_queue > 0 and int(self.queue.count):
            keys, key_rows = self.queue.filled()  # (Q, dim), (Q,)
            inputs["text"]["extra"] = keys
            inputs["text"]["extra_positives"] = torch.from_numpy(data.relevance(s_idx, key_rows.cpu().numpy())).to(dev)
        n_idx = data.pool.neg[rows, vi]
        has_neg = n_idx >= 0
        if cfg.w_swap > 0 and has_neg.any():
            # one-way InfoNCE whose only negative of row i is its own swapped caption
            sel = torch.from_numpy(np.flatnonzero(has_neg)).to(dev)
            tn = model.text.project(data.pool.raw[n_idx[has_neg]].to(dev))  # (r, dim)
            r = len(sel)
            inputs["swap"] = {
                "a": a[sel], "b": t[sel], "positives": torch.ones(r, r, dtype=torch.bool, device=dev),
                "extra": tn, "extra_positives": ~torch.eye(r, dtype=torch.bool, device=dev),
            }

        if self.graph and n_pairs > 0:
            anc = rows[:n_pairs]
            graded = self._paths if cfg.graded_negatives else None
            linked = self.data.train_index.link_mask(anc, rows[n_pairs : 2 * n_pairs], graded)  # (P, P)
            inputs["track"] = {"a": g[:n_pairs], "b": g[n_pairs : 2 * n_pairs], "positives": torch.from_numpy(linked).to(dev)}
            if cfg.w_hard > 0 and len(rows) > 2 * n_pairs:  # graph-aware hard negatives (H, dim)
                inputs["track"]["extra"] = g[2 * n_pairs :]
                inputs["track"]["extra_positives"] = torch.from_numpy(anc[:, None] == rows[None, 2 * n_pairs :]).to(dev)
            if cfg.w_entity > 0 and global_step % cfg.entity_every == 0:
                entity = self._entity_inputs(rows, a, rng)
                if entity is not None:
                    inputs["entity"] = entity

        losses = self.objective(inputs, output_dict=True)  # {part: scalar, "loss": weighted sum}
        total = losses.pop("loss")
        self.optim.zero_grad(set_to_none=True)
        total.backward()
        self.optim.step()
        with torch.no_grad():
            self.bank[torch.from_numpy(rows)] = a.detach().cpu()
            if cfg.moco_queue > 0:
                keys = a.detach()
                if self.key_audio is not None:  # θ_k ← m·θ_k + (1-m)·θ_q, then this batch's keys
                    update_momentum(model.audio, self.key_audio, cfg.moco_momentum)
                    keys = self.key_audio(x)
                self.queue.enqueue(keys, torch.from_numpy(rows).to(dev))
                if ssl is not None:
                    self.ssl.enqueue(ssl, self.key_audio)
        out = {k: float(v.detach()) for k, v in losses.items()}
        out["total"] = float(total.detach())
        out["pairs"] = float(len(rows) + n_pairs + (0 if ssl is None else len(ssl["ids"])))
        return out

    def _entity_inputs(self, rows: np.ndarray, a: torch.Tensor, rng: np.random.Generator) -> dict | None:
        """Inputs of the entity loss: the entities of the batch's tracks must pick out those
        tracks' audio (an entity linked to several batch tracks has them all as positives).
        None when fewer than two batch tracks have an entity. Unless ``entity_moves_audio``,
        the audio is detached: entity vectors move to the audio, not the audio to them."""
        if not self.config.entity_moves_audio:
            a = a.detach()
        uniq, first = np.unique(rows, return_index=True)
        au = a[torch.from_numpy(first).to(self.device)]  # (U, dim)
        sub_pos = torch.from_numpy(self.sub_pos[uniq]).to(self.device)
        tv = self.bank[torch.from_numpy(self.sub_rows)].to(self.device)  # (n_sub, dim)
        tv = tv.index_copy(0, sub_pos, au)  # batch tracks keep their gradient
        ent = self.model.encode_entities(self.graph_inputs.with_track_audio(tv))  # {label: (n, dim)}
        label, erow = self.data.index.sample_entities(uniq, rng)
        ok = label >= 0
        if ok.sum() < 2:
            return None
        uniq, label, erow, au = uniq[ok], label[ok], erow[ok], au[torch.from_numpy(np.flatnonzero(ok)).to(self.device)]
        inc = (self.data.index.track_artist, self.data.index.track_album, self.data.index.track_attr)
        linked = np.zeros((len(uniq), len(uniq)), dtype=bool)
        parts, owners = [], []
        for lb in np.unique(label).tolist():  # one gather per entity label, not one per batch track
            mine = np.flatnonzero(label == lb)
            name, ids = LABELS[lb], self.data.index.entity_ids[LABELS[lb]]
            at = torch.tensor([self.sub_index[name][ids[r]] for r in erow[mine].tolist()], device=self.device)
            parts.append(ent[name][at])  # (m, dim)
            owners.append(mine)
            linked[mine] = inc[lb][uniq][:, erow[mine]].toarray().T > 0  # which batch tracks each links to
        back = torch.from_numpy(np.argsort(np.concatenate(owners))).to(self.device)  # label groups -> batch order
        vecs = torch.cat(parts)[back]  # (U, dim)
        return {"a": vecs, "b": au, "positives": torch.from_numpy(linked).to(self.device)}  # (U, dim) each

    # -- epochs ---------------------------------------------------------------------------
    def _spaces(self) -> tuple[str, ...]:
        return ("joint", "track") if self.config.model.track_head else ("joint",)

    def embed_tracks(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One pass over the audio of every track with features (whole files, eval mode,
        :meth:`KGJointModel.embed_audio_spaces`, ``AUDIO_BATCH`` files per batch): their
        Track rows and ``{space: (n, dim)}``."""
        rows = np.flatnonzero([f is not None for f in self.data.feats])
        paths = list(self.data.export.nodes["Track"]["audio_path"].iloc[rows])
        with torch_threads(self.infer_threads):
            return rows, self.model.embed_audio_spaces(paths, batch_size=AUDIO_BATCH, spaces=self._spaces())

    def evaluate(self, tracks: tuple[np.ndarray, dict[str, np.ndarray]] | None = None) -> dict:
        """Validation metrics on held-out tracks with audio (empty dict when there are none):
        :func:`evaluate_vectors` of the joint space, and with a track head also its
        track→track metrics under ``track_head``. ``tracks``: :meth:`embed_tracks`' result
        to take the held-out vectors from, which also ranks them among every track
        (``track_catalog``, ``track_head_catalog``); None: embed the held-out tracks now."""
        rows = self.data.val_rows
        if len(rows) < 2:
            return {}
        if tracks is None:
            paths = list(self.data.export.nodes["Track"]["audio_path"].iloc[rows])
            with torch_threads(self.infer_threads):
                vecs = self.model.embed_audio_spaces(paths, batch_size=32, spaces=self._spaces())  # one pass over the audio
        else:
            at = np.searchsorted(tracks[0], rows)  # held-out rows all have features
            vecs = {space: v[at] for space, v in tracks[1].items()}  # (n_val, dim) each
        audio = vecs["joint"]
        mask = np.zeros(len(self.data.feats), dtype=bool)
        mask[rows] = True
        k, export, index = self.config.eval_k, self.data.export, self.data.index
        catalog = None if tracks is None else (tracks[0], tracks[1]["joint"])
        out = evaluate_vectors(export, mask, audio, self.model.embed_text, k=k, index=index, catalog=catalog)
        if self.config.model.track_head:
            catalog = None if tracks is None else (tracks[0], tracks[1]["track"])
            head = evaluate_vectors(export, mask, vecs["track"], None, k=k, index=index, catalog=catalog)
            out["track_head"] = head["track_track"]
            if "track_catalog" in head:
                out["track_head_catalog"] = head["track_catalog"]
        return out

    def fit(self, *, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Run the remaining epochs (all, or ``stop_after`` of them in this call — an
        interruption that ``resume=True`` later continues exactly)."""
        cfg = self.config
        if resume:
            self.load_checkpoint()
        self.out.mkdir(parents=True, exist_ok=True)
        n_train = len(self.data.train_rows)
        per = max(2, (2 * cfg.batch_size) // 5) if self.graph else cfg.batch_size
        # same number of steps (same audio compute) with or without graph positives
        steps = cfg.steps_per_epoch or max(1, n_train // cfg.batch_size)
        last = cfg.epochs if stop_after is None else min(cfg.epochs, self.start_epoch + stop_after)
        for epoch in range(self.start_epoch, last):
            rng = np.random.default_rng([cfg.seed, epoch])
            if self.ssl is not None:
                self.ssl.new_epoch(epoch)
            torch.manual_seed(cfg.seed * 100_003 + epoch)
            random.seed(cfg.seed * 100_003 + epoch)
            self.model.train()
            reps = -(-steps * per // n_train)
            order = np.concatenate([rng.permutation(self.data.train_rows) for _ in range(max(1, reps))])
            sums: dict[str, float] = {}
            t0 = time.perf_counter()
            it = range(steps)
            if self.progress:
                it = tqdm(it, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False)
            for s in it:
                out = self.step(order, s, rng, epoch * steps + s)
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + v
                if self.progress:
                    it.set_postfix({k: f"{v:.3f}" for k, v in out.items() if k != "pairs"})
            seconds = time.perf_counter() - t0
            self.model.eval()
            final = epoch + 1 == cfg.epochs
            tracks = self.embed_tracks() if final else None  # validation, diagnostics, stored vectors
            record = {
                "epoch": epoch + 1,
                "loss": {k: v / steps for k, v in sums.items() if k != "pairs"},
                "steps": steps,
                "seconds": round(seconds, 2),
                "pairs_per_s": round(sums.get("pairs", 0.0) / max(seconds, 1e-9), 1),
                "temperature": float(1.0 / self.model.logit_scale.detach().exp().clamp(max=100.0)),
            }
            if (epoch + 1) % cfg.eval_every == 0 or final:
                record["val"] = self.evaluate(tracks)
            self.history.append(record)
            logger.info("epoch %d: loss %s, %.1f s, %.0f pairs/s, val %s", epoch + 1,
                        {k: round(v, 3) for k, v in record["loss"].items()}, seconds, record["pairs_per_s"],
                        _brief(record.get("val", {})))
            self._write(epoch, tracks=tracks)
        return TrainResult(out=self.out, metrics=self.metrics())

    def metrics(self) -> dict:
        out = {"epochs": self.history, "split": self.data.split.to_dict(), "config": self.config.to_dict()}
        if self.unlabelled is not None:
            out["unlabelled"] = {"folder": str(self.unlabelled), "recordings": len(self.data.unlabelled)}
        return out

    def _write(self, epoch: int, *, tracks: tuple[np.ndarray, dict[str, np.ndarray]] | None = None) -> None:
        """Checkpoint, metrics and model; after the last epoch (``tracks``: its pass over the
        audio) also the diagnostics and the stored audio vectors of the saved weights."""
        self.save_checkpoint(epoch)
        _atomic_json(self.out / METRICS, self.metrics())
        _atomic_json(self.out / TRAIN_CONFIG, self.config.to_dict())
        if tracks is not None:
            diagnose_model(self.model, self.data, self.out, kind=self.config.scatter_kind, tracks=tracks)
        self.model.save(self.out)
        if tracks is not None:
            rows, vecs = tracks
            frame = self.data.export.nodes["Track"]
            save_audio_vectors(self.out, model=self.model, ids=list(frame["id"].iloc[rows]),
                               features=(self.data.feats[r] for r in rows), vectors=vecs["joint"], batch_size=AUDIO_BATCH)


def _brief(val: dict) -> dict | str:
    if not val:
        return "-"
    tt = val.get("track_track", {})
    ta = val.get("text_audio", {}).get("all", {})
    return {
        "text_map": round(ta.get("map", float("nan")), 3),
        **{f"{k}_map": round(v["map"], 3) for k, v in tt.items()},
    }


def check_resumable(out: str | os.PathLike, config: TrainConfig) -> Path:
    """Path of ``out/checkpoint.pt`` if it exists and was written with ``config``; else
    :class:`KgjembError` saying why (checked before any expensive setup)."""
    path = Path(out) / CHECKPOINT
    if not path.is_file():
        raise KgjembError(f"--resume: no checkpoint at {path}")
    saved = json.loads((Path(out) / TRAIN_CONFIG).read_text()) if (Path(out) / TRAIN_CONFIG).is_file() else None
    if saved is None:
        saved = torch.load(path, map_location="cpu", weights_only=True)["config"]
    if json.dumps(saved, sort_keys=True, default=str) != json.dumps(config.to_dict(), sort_keys=True, default=str):
        raise KgjembError(f"--resume: {path} was written with another training config; start afresh or use it")
    return path


def train(
    export: GraphExport,
    config: TrainConfig,
    *,
    out: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    unlabelled: str | os.PathLike | None = None,
) -> TrainResult:
    """Train on the graph ``export`` and write the model directory ``out``.

    ``cache_dir`` holds audio features and text-encoder outputs (None: no disk cache).
    ``resume`` continues from ``out/checkpoint.pt`` (same config required).
    ``unlabelled``: a folder of audio files (or a catalog folder: its audio files) for the
    self-supervised term (needs ``config.ssl``); only files under it are read.

    >>> from kgjemb.graph.open import open_store
    >>> result = train(open_store(home=".kgjemb").export(), load_config(), out=".kgjemb/model")
    """
    if resume:
        check_resumable(out, config)
    # torch's thread count and determinism are process-wide: set for this run, then restored
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        return Trainer(export, config, out=out, cache_dir=cache_dir, progress=progress,
                       unlabelled=unlabelled).fit(resume=resume)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
