"""Losses, selected by name: ``get_loss("info_nce" | "triplet" | "moco", **kwargs)``.

All are "features in, scalar out" over paired rows (see :mod:`kgjemb.train.losses.base`);
:class:`MultiTaskLoss` combines named parts with weights.
"""
from kgjemb.train.losses.base import LOSSES, PairLoss, get_loss, positive_mask, register_loss
from kgjemb.train.losses.info_nce import InfoNCELoss, info_nce
from kgjemb.train.losses.moco import KeyQueue, MoCoLoss, update_momentum
from kgjemb.train.losses.multitask import MultiTaskLoss
from kgjemb.train.losses.triplet import MINING, TripletLoss, mine_negatives

__all__ = [
    "LOSSES",
    "MINING",
    "InfoNCELoss",
    "KeyQueue",
    "MoCoLoss",
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
