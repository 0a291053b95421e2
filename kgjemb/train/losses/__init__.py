"""Losses, selected by name: ``get_loss("info_nce" | "triplet", **kwargs)``.

All are "features in, scalar out" over paired rows (see :mod:`kgjemb.train.losses.base`),
with optional extra negatives; :class:`MultiTaskLoss` combines named parts with weights;
:class:`KeyQueue` and :func:`update_momentum` supply MoCo-style queued negatives. The
trainer builds every loss it uses here.
"""
from kgjemb.train.losses.base import LOSSES, PairLoss, get_loss, positive_mask, register_loss
from kgjemb.train.losses.info_nce import InfoNCELoss, info_nce
from kgjemb.train.losses.moco import KeyQueue, update_momentum
from kgjemb.train.losses.multitask import MultiTaskLoss
from kgjemb.train.losses.triplet import MINING, TripletLoss, mine_negatives

__all__ = [
    "LOSSES",
    "MINING",
    "InfoNCELoss",
    "KeyQueue",
    "MultiTaskLoss",
    "PairLoss",
    "TripletLoss",
    "get_loss",
    "info_nce",
    "mine_negatives",
    "positive_mask",
    "register_loss",
    "update_momentum",
]
