"""The self-supervised audio↔audio term: two crops of one recording are positives.

Per step, the recordings are the step's distinct training tracks (``ssl_labelled``) and
``ssl_unlabelled_per_step`` unlabelled recordings (:attr:`TrainData.unlabelled`, drawn in a
per-epoch permutation). The first view of a training track is the step's own crop of it
(augmented when ``augment.enabled``); its second view, and both views of an unlabelled
recording, are crops at their own random positions, each augmented
(:func:`kgjemb.audio.augment.augment_features`) — what stays the same across them is the
recording (its instruments, room, mix), which is what a user's own untagged audio can teach
the tower. With ``ssl_positives = "folder"`` the second view of an unlabelled recording is
a crop of another recording of its folder (itself when the folder holds no other): a music
library keeps each release in a folder, so what stays the same is the release's production,
and recordings of one folder are not each other's negatives. ``ssl_augment = False`` leaves
every view as recorded. Negatives: the rest of the batch (graph-linked training tracks and,
with folders, same-folder recordings excepted, so the term does not undo the graph's
positives) and a :class:`KeyQueue` of momentum-encoded second views of recent steps (same
recording, or same folder, masked). The loss is the registered
``info_nce`` at a fixed temperature (:func:`kgjemb.train.trainer.build_objective`).

>>> ssl = AudioSSL(config, data, model, device)                 # doctest: +SKIP
>>> out = ssl.inputs(rows, (a, g), frames, global_step)         # doctest: +SKIP
>>> loss = objective({"ssl": out["inputs"], ...})               # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import torch

from kgjemb.audio.augment import augment_features, input_frames
from kgjemb.train.data import TrainData
from kgjemb.train.losses import KeyQueue

__all__ = ["AudioSSL", "view_rng"]


def view_rng(seed: int, global_step: int, view: int) -> np.random.Generator:
    """The augmentation draws of one step's ``view`` (0: the supervised crops, 1: the
    self-supervised term's crops): a generator of (seed, global step, view) alone, so they
    neither shift the step's other draws nor depend on earlier steps (a resumed run draws
    what an uninterrupted one would)."""
    return np.random.default_rng([seed, global_step, view, 0xA06])


class AudioSSL:
    """State (queue, epoch order) and per-step inputs of the audio↔audio term.

    ``config``: the TrainConfig (``ssl_*``, ``augment``, ``moco_queue``); ``data``: the
    run's :class:`TrainData`; ``model``: the KGJointModel being trained.
    """

    def __init__(self, config, data: TrainData, model, device: torch.device) -> None:
        self.config, self.data, self.model, self.device = config, data, model, device
        #: index into ``encode_audio_spaces``' (joint, track) pair
        self.space = 1 if config.ssl_space == "track" else 0
        # keys of past second views; ids: Track rows, then n_tracks + the recording's (or folder's) number
        self.queue = KeyQueue(config.model.dim, config.moco_queue).to(device)
        self.order = np.arange(len(data.unlabelled))
        #: each unlabelled recording's folder (0..F-1) and, per folder, its recordings
        self.folder = np.unique([str(p.parent) for p in data.unlabelled_paths], return_inverse=True)[1].astype(np.int64)
        self.members = [np.flatnonzero(self.folder == f) for f in range(int(self.folder.max(initial=-1)) + 1)]

    def new_epoch(self, epoch: int) -> None:
        """Draw the order in which this epoch's steps visit the unlabelled recordings."""
        self.order = np.random.default_rng([self.config.seed, epoch, 0x551]).permutation(len(self.data.unlabelled))

    def partners(self, unl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The recordings whose crops are the second views of unlabelled recordings ``unl``:
        themselves, or with ``ssl_positives = "folder"`` another recording of each one's
        folder (itself when it is alone there)."""
        if self.config.ssl_positives != "folder":
            return unl
        out = unl.copy()
        for i, u in enumerate(unl):
            others = self.members[self.folder[u]]
            others = others[others != u]
            if len(others):
                out[i] = others[rng.integers(len(others))]
        return out

    def inputs(self, rows: np.ndarray, spaces: tuple[torch.Tensor, torch.Tensor], frames: int,
               global_step: int) -> dict | None:
        """``{"inputs": loss kwargs, "key_x": second views' crops, "ids": recording ids}``
        for one step whose crops of ``rows`` gave ``spaces`` (joint, track) ``(R, dim)``;
        None when fewer than two recordings take part."""
        cfg, data, dev = self.config, self.data, self.device
        rng = view_rng(cfg.seed, global_step, 1)
        empty = np.zeros(0, dtype=np.int64)
        lab, first = np.unique(rows, return_index=True) if cfg.ssl_labelled else (empty, empty)
        n_u = min(cfg.ssl_unlabelled_per_step, len(data.unlabelled))
        unl = self.order[(global_step * n_u + np.arange(n_u)) % max(1, len(self.order))]
        n_l = len(lab)
        if n_l + n_u < 2:
            return None
        n_in = input_frames(frames, cfg.augment) if cfg.ssl_augment else frames
        crops = [data.crops(lab, n_in, rng)] if n_l else []
        if n_u:  # a crop of each unlabelled recording and one of its partner, at independent positions
            partner = self.partners(unl, rng)
            crops += [data.crops(r, n_in, rng, source=data.unlabelled) for r in (unl, partner)]
        xs = torch.cat(crops).to(dev)  # (n_l + 2 n_u, n_features, n_in)
        if cfg.ssl_augment:
            xs = augment_features(xs, frames=frames, config=cfg.augment, frontend=cfg.model.frontend, rng=rng)
        vs = self.model.encode_audio_spaces(xs)[self.space]  # (n_l + 2 n_u, dim)
        own = spaces[self.space][torch.from_numpy(first).to(dev)]  # (n_l, dim)
        q = torch.cat([own, vs[n_l : n_l + n_u]])  # (n, dim) first views
        k = torch.cat([vs[:n_l], vs[n_l + n_u :]])  # (n, dim) second views
        group = self.folder[unl] if cfg.ssl_positives == "folder" else unl  # what one positive shares
        ids = torch.from_numpy(np.concatenate([lab, len(data.feats) + group])).to(dev)  # (n,)
        pos = torch.zeros(n_l + n_u, n_l + n_u, dtype=torch.bool)  # (n, n) not negatives
        if n_l:
            pos[:n_l, :n_l] = torch.from_numpy(data.train_index.link_mask(lab, lab))
        pos[n_l:, n_l:] = torch.from_numpy(group[:, None] == group[None, :])
        inputs = {"a": q, "b": k, "positives": pos.to(dev)}
        if int(self.queue.count):
            keys, key_ids = self.queue.filled()  # (Q, dim), (Q,)
            inputs["extra"], inputs["extra_positives"] = keys, ids[:, None] == key_ids[None, :]
        key_x = torch.cat([xs[:n_l], xs[n_l + n_u :]])  # (n, n_features, frames)
        return {"inputs": inputs, "key_x": key_x, "ids": ids}

    @torch.no_grad()
    def enqueue(self, step: dict, key_audio: torch.nn.Module | None) -> None:
        """Queue the step's second views: keys of the momentum encoder ``key_audio`` (already
        updated this step), or the online vectors when there is none."""
        keys = step["inputs"]["b"].detach()
        if key_audio is not None:
            keys = key_audio.forward_spaces(step["key_x"])[self.space]
        self.queue.enqueue(keys, step["ids"])
