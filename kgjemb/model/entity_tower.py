"""Entity tower: joint-space vectors for Artist, Album, Track and Attribute nodes.

Inductive by construction — no per-node embedding tables. Node inputs are features:

- Track: its audio embedding (``dim``, zeros without audio), ++ the text-encoder vector of
  its title (384) when ``track_title_feature`` is on (off by default);
- Artist / Album: the text-encoder vector of the name / title (384);
- Attribute: the text-encoder vector of ``"kind: value"`` (384).

A per-label linear layer maps them to ``gnn_hidden``; ``gnn_layers`` residual layers of a
heterogeneous ``HeteroConv`` (one ``GraphConv`` with mean aggregation and edge weights per
relationship type, reverse types ``rev_<TYPE>`` added, relation outputs averaged) mix
neighbours; a shared linear head maps to ``dim``. That head's output is mixed with an
*audio anchor*: the track's own audio vector for a Track, and the
mean audio vector of the tracks linked by BY / ON / HAS for an Artist, Album or Attribute: output =
normalise(α·n(anchor) + (1-α)·n(head)), α = sigmoid(learned per label, init 0.73), with
both parts unit-normalised so the learned part cannot drown the anchor by growing.
So even an untrained (or a brand-new) artist sits near its tracks' sound; training learns
the correction.

New nodes therefore get vectors from their features and neighbours without retraining.

>>> data = build_graph(export)  # HeteroData with reverse edges  # doctest: +SKIP
>>> out = tower(data, x_dict)  # {label: (n_label, dim)}  # doctest: +SKIP
"""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from kgjemb.catalog.schema import NODE_LABELS, REL_TYPES
from kgjemb.model.config import ModelConfig

__all__ = ["EntityTower", "build_graph", "edge_types", "node_texts", "ANCHOR_EDGES"]

TEXT_DIM = 384

#: For each non-track label, the relationship linking its tracks to it (Track → label).
ANCHOR_EDGES: dict[str, tuple[str, str, str]] = {
    "Artist": ("Track", "BY", "Artist"),
    "Album": ("Track", "ON", "Album"),
    "Attribute": ("Track", "HAS", "Attribute"),
}


def edge_types() -> list[tuple[str, str, str]]:
    """Every relationship type of the schema plus its reverse ``(dst, rev_TYPE, src)``."""
    out = list(REL_TYPES)
    out += [(d, f"rev_{r}", s) for s, r, d in REL_TYPES]
    return out


def build_graph(export) -> "HeteroData":  # noqa: F821
    """``export.to_hetero_data()`` with reverse edges (same weights) for every type."""
    data = export.to_hetero_data()
    for s, r, d in REL_TYPES:
        store = data[(s, r, d)]
        data[(d, f"rev_{r}", s)].edge_index = store.edge_index.flip(0)
        data[(d, f"rev_{r}", s)].edge_weight = store.edge_weight
    return data


def node_texts(export) -> dict[str, list[str]]:
    """The strings whose encoder vectors are node features, aligned with ``export.nodes``."""

    def col(label: str, name: str) -> list[str]:
        frame = export.nodes[label]
        if name not in frame.columns:
            return [""] * len(frame)
        return ["" if _missing(v) else str(v) for v in frame[name]]

    attr_kind, attr_name = col("Attribute", "kind"), col("Attribute", "name")
    return {
        "Artist": col("Artist", "name"),
        "Album": col("Album", "title"),
        "Track": col("Track", "title"),
        "Attribute": [f"{k}: {v}" if k else v for k, v in zip(attr_kind, attr_name)],
    }


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # lists
        return False


class EntityTower(nn.Module):
    """Heterogeneous GNN over the music graph; ``forward(data, x_dict) → {label: (n, dim)}``.

    ``x_dict``: ``Track`` ``(n, dim)`` audio (``(n, dim + 384)`` audio ++ title text with
    ``track_title_feature``), other labels ``(n, 384)``.
    ``data``: from :func:`build_graph` (must carry reverse edges).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        from torch_geometric.nn import GraphConv, HeteroConv, SAGEConv

        self.cfg = cfg
        hidden = cfg.gnn_hidden
        in_dims = {label: TEXT_DIM for label in NODE_LABELS}
        in_dims["Track"] = cfg.dim + (TEXT_DIM if cfg.track_title_feature else 0)
        self.inputs = nn.ModuleDict({label: nn.Linear(in_dims[label], hidden) for label in NODE_LABELS})
        self.edge_types = edge_types()

        def conv():
            if cfg.gnn == "sage":
                return SAGEConv(hidden, hidden, aggr="mean")
            return GraphConv(hidden, hidden, aggr="mean")

        self.convs = nn.ModuleList(
            HeteroConv({et: conv() for et in self.edge_types}, aggr="mean") for _ in range(cfg.gnn_layers)
        )
        self.norms = nn.ModuleList(
            nn.ModuleDict({label: nn.LayerNorm(hidden) for label in NODE_LABELS}) for _ in range(cfg.gnn_layers)
        )
        self.dropout = nn.Dropout(cfg.gnn_dropout)
        self.head = nn.Linear(hidden, cfg.dim)
        # per-label share of the audio anchor, alpha = sigmoid(logit) in (0, 1); init ≈ 0.73
        self.anchor_logit = nn.Parameter(torch.full((len(NODE_LABELS),), 1.0))

    def forward(self, data, x_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        for label in NODE_LABELS:
            if label not in x_dict:
                raise ValueError(f"x_dict lacks {label!r}; needs {list(NODE_LABELS)}")
        audio = x_dict["Track"][:, : self.cfg.dim]  # (n_track, dim)
        h = {label: self.inputs[label](x_dict[label]) for label in NODE_LABELS}  # {label: (n, hidden)}
        edge_index = {et: data[et].edge_index for et in self.edge_types}
        kwargs = {}
        if self.cfg.gnn == "graphconv":
            kwargs["edge_weight_dict"] = {et: data[et].edge_weight for et in self.edge_types}
        for conv, norms in zip(self.convs, self.norms):
            msg = conv(h, edge_index, **kwargs)  # {label: (n, hidden)}
            h = {
                label: h[label] + self.dropout(F.relu(norms[label](msg[label]))) if label in msg else h[label]
                for label in NODE_LABELS
            }
        alpha = torch.sigmoid(self.anchor_logit)  # (n_labels,)
        out = {}
        for i, label in enumerate(NODE_LABELS):
            anchor = audio if label == "Track" else self._mean_audio(data, label, audio)  # (n, dim)
            # both parts unit-normalised before mixing: the learned part cannot drown the
            # anchor by growing its norm (that is how a tower overfits names); nodes without
            # linked audio have a zero anchor and take the learned direction alone
            mixed = alpha[i] * F.normalize(anchor, dim=-1) + (1 - alpha[i]) * F.normalize(self.head(h[label]), dim=-1)
            out[label] = F.normalize(mixed, dim=-1)  # (n, dim)
        return out

    @staticmethod
    def _mean_audio(data, label: str, audio: torch.Tensor) -> torch.Tensor:
        """Mean audio vector of the tracks linked to each ``label`` node (zeros if none)."""
        from torch_geometric.utils import scatter

        n = data[label].num_nodes
        src, dst = data[ANCHOR_EDGES[label]].edge_index  # track index, label index
        if src.numel() == 0:
            return audio.new_zeros(n, audio.shape[1])
        return scatter(audio[src], dst, dim=0, dim_size=n, reduce="mean")  # (n, dim)
