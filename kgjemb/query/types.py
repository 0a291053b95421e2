"""What a query turns into and what a search returns: the stable result schema.

These pydantic models are shared by the Python API, the CLI's JSON output and the HTTP
service, so all three emit exactly the same fields.
"""
from __future__ import annotations

from typing import Literal, Sequence

from pydantic import BaseModel, Field

__all__ = ["ArtistHit", "ArtistResult", "EntityRef", "Filter", "Hit", "ParsedQuery", "RELATIONS", "SearchResult",
           "results_frame"]

#: relation queries the graph answers: "music influenced by X", "that influenced X",
#: "artists similar to X", "other versions of X", "from the same album as X", "by members of X"
Relation = Literal["influenced_by", "influenced", "similar_artists", "versions", "same_album", "members"]
RELATIONS: tuple[str, ...] = ("influenced_by", "influenced", "similar_artists", "versions", "same_album", "members")


class EntityRef(BaseModel):
    """A span of the query linked to a graph node."""

    text: str = Field(description="the span as written in the query")
    label: str | None = Field(None, description="node label (Artist, Album, Track, Attribute)")
    id: str | None = Field(None, description="node id; None when the span could not be linked")
    name: str | None = Field(None, description="canonical name of the linked node")
    score: float = Field(0.0, description="link confidence, 0-100")
    how: Literal["exact", "alias", "fuzzy", "none"] = "none"
    role: Literal["like", "by", "not_by", "exclude"] = Field(
        "like", description="what the query does with it: similarity anchor, or a filter"
    )
    candidates: list[str] = Field(default_factory=list, description="other close names (ambiguity)")
    relation: Relation | None = Field(
        None, description="a relation query on this node: the graph's related nodes are the anchors"
    )


class Filter(BaseModel):
    """A graph constraint applied to candidates."""

    kind: Literal["by", "not_by", "exclude", "era", "year_range", "attribute", "not_attribute"]
    value: str
    node_id: str | None = None


class ParsedQuery(BaseModel):
    query: str
    intents: list[str] = Field(default_factory=list, description="similarity, attribute, filter")
    entities: list[EntityRef] = Field(default_factory=list)
    phrases: list[str] = Field(default_factory=list, description="attribute phrases → text tower")
    negations: list[str] = Field(default_factory=list, description="negated phrases → subtractive signal")
    filters: list[Filter] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list, description="entity mentions that matched nothing")


class Hit(BaseModel):
    track_id: str
    title: str
    artists: list[str] = Field(default_factory=list)
    album: str | None = None
    score: float
    signals: dict[str, float] = Field(default_factory=dict, description="per-signal contribution")
    matched_entity: str | None = Field(None, description="query entity id this hit relates to")
    path: list[str] = Field(
        default_factory=list, description="graph path hit → entity, e.g. ['Track:t1', 'BY→', 'Artist:bach']"
    )
    matched_attributes: list[str] = Field(default_factory=list)
    explanation: str = ""


class ArtistHit(BaseModel):
    """An artist ranked by :meth:`Engine.similar_artists <kgjemb.query.engine.Engine.similar_artists>`."""

    artist_id: str
    name: str
    score: float
    signals: dict[str, float] = Field(default_factory=dict, description="per-signal contribution")
    path: list[str] = Field(default_factory=list, description="graph path artist → query node")
    explanation: str = ""


class ArtistResult(BaseModel):
    query: str
    hits: list[ArtistHit]
    warnings: list[str] = Field(default_factory=list)

    def to_frame(self):
        """Hits as a pandas DataFrame, one row per artist."""
        import pandas as pd

        return pd.DataFrame([{"rank": r, **h.model_dump(exclude={"signals"}),
                              **{f"signal_{k}": v for k, v in h.signals.items()}}
                             for r, h in enumerate(self.hits, 1)])


class SearchResult(BaseModel):
    query: str
    parse: ParsedQuery
    hits: list[Hit]
    warnings: list[str] = Field(default_factory=list)

    def to_frame(self):
        """Hits as a pandas DataFrame, one row per hit, signals as ``signal_<name>`` columns."""
        import pandas as pd

        rows = []
        for rank, h in enumerate(self.hits, 1):
            row = {"rank": rank, **h.model_dump(exclude={"signals"})}
            row.update({f"signal_{k}": v for k, v in h.signals.items()})
            rows.append(row)
        return pd.DataFrame(rows)


def results_frame(results: Sequence[SearchResult]):
    """The hits of many results (:meth:`Engine.search_batch
    <kgjemb.query.engine.Engine.search_batch>`) as one pandas DataFrame: ``query_index``
    (position in the batch) and ``query`` first, then :meth:`SearchResult.to_frame`'s
    columns; a query without hits has no rows."""
    import pandas as pd

    frames = [r.to_frame().assign(query=r.query, query_index=i) for i, r in enumerate(results) if r.hits]
    if not frames:
        return pd.DataFrame(columns=["query_index", "query", "rank"])
    frame = pd.concat(frames, ignore_index=True)
    return frame[["query_index", "query", *[c for c in frame.columns if c not in ("query_index", "query")]]]
