"""Request and response bodies of the HTTP API (pydantic v2; examples feed OpenAPI).

Search results reuse :mod:`kgjemb.query.types` unchanged, so the HTTP JSON, the CLI's JSON
and the Python API carry the same fields.
"""
from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kgjemb.query.types import Filter, Hit, SearchResult
from kgjemb.serve.config import HARD_MAX_BATCH, MAX_K, MAX_QUERY_CHARS

__all__ = [
    "BatchRequest",
    "BatchResponse",
    "BundleInfoModel",
    "ErrorBody",
    "HealthResponse",
    "NodeKind",
    "NotFoundBody",
    "ReadyResponse",
    "ReloadRequest",
    "ReloadResponse",
    "SearchRequest",
    "SimilarResponse",
]


class NodeKind(str, Enum):
    """Node kinds that ``GET /v1/similar/{kind}/{id}`` accepts (graph label, lower-case)."""

    track = "track"
    artist = "artist"
    album = "album"
    attribute = "attribute"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class SearchRequest(BaseModel):
    """One search: free text, how many hits, optional graph filters."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": "songs like Jesu, meine Freude but on strings, not slow", "k": 10},
                {"query": "melancholic piano, no vocals", "k": 5, "explain": False},
                {
                    "query": "calm organ music",
                    "k": 10,
                    "filters": [{"kind": "year_range", "value": "1700-1750"}],
                },
            ]
        },
    )

    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description=f"free-text query, 1..{MAX_QUERY_CHARS} characters, not blank",
    )
    k: int = Field(10, ge=1, le=MAX_K, description=f"number of hits, 1..{MAX_K}")
    filters: list[Filter] = Field(
        default_factory=list, max_length=32, description="extra graph constraints, added to those parsed from the query"
    )
    explain: bool = Field(True, description="include explanations and graph paths in the hits")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("query is empty after stripping whitespace")
        return value


class BatchRequest(BaseModel):
    """Several searches answered in one round trip (order kept)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"queries": [{"query": "songs like Bach", "k": 5}, {"query": "slow sad strings"}]}]
        },
    )

    queries: list[SearchRequest] = Field(
        min_length=1,
        max_length=HARD_MAX_BATCH,
        description="the searches; the server's configured limit (default 64) applies",
    )


class BatchResponse(BaseModel):
    results: list[SearchResult]


class SimilarResponse(BaseModel):
    """Nearest neighbours of one graph node."""

    kind: NodeKind
    id: str
    hits: list[Hit]


class ErrorBody(BaseModel):
    detail: str


class NotFoundBody(BaseModel):
    """An unknown id or name: the closest known ones are listed."""

    detail: str
    name: str
    candidates: list[str] = Field(default_factory=list)


class HealthResponse(BaseModel):
    status: str = "ok"


class BundleInfoModel(BaseModel):
    path: str
    version: str
    checksum: str
    model_checksum: str | None = None
    generation: int
    loaded_at: float
    format_version: str | None = None
    created_at: str | None = None


class ReadyResponse(BaseModel):
    status: str
    bundle: BundleInfoModel | None = None
    detail: str | None = None


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"bundle": "/srv/kgjemb/bundle-2026-11-23"}]})

    bundle: str | None = Field(
        None, max_length=4096, description="bundle directory to load; omitted: reload the current one"
    )


class ReloadResponse(BaseModel):
    bundle: BundleInfoModel
    previous: BundleInfoModel | None = None
    seconds: float
