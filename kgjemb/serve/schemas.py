"""Request and response bodies of the HTTP API (pydantic v2; examples feed OpenAPI).

Search results reuse :mod:`kgjemb.query.types` unchanged, so the HTTP JSON, the CLI's JSON
and the Python API carry the same fields.
"""
from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kgjemb.limits import MAX_BATCH_QUERIES, MAX_K, MAX_QUERY_CHARS
from kgjemb.query.types import Filter, Hit, SearchResult

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
    "ValidationErrorBody",
    "ValidationIssue",
    "batch_request_model",
]

_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any, where: str = "") -> str | None:
    """Path of the first string (key or value) holding a lone UTF-16 surrogate: JSON's
    ``\\ud800`` escape decodes to one, and it is not text anything downstream can encode."""
    if isinstance(value, str):
        return where or "body" if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and _SURROGATE.search(k):
                return (where + "." if where else "") + "<key>"
            found = _lone_surrogate(v, (where + "." if where else "") + str(k))
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _lone_surrogate(v, f"{where}[{i}]")
            if found:
                return found
    return None


def _json_integer(value: Any) -> Any:
    """JSON Schema's ``integer``: a number without a fraction (``5`` or ``5.0``), never a
    boolean or a string (pydantic's lax mode would take ``true`` and ``"5"``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("int_type", "Input should be a valid integer (a JSON number, not a {kind})",
                                  {"kind": type(value).__name__ if not isinstance(value, bool) else "boolean"})
    return value


#: an integer as JSON Schema means it (see :func:`_json_integer`)
JsonInt = Annotated[int, BeforeValidator(_json_integer)]


class _Request(BaseModel):
    """Base of every request body: unknown fields and lone surrogates are refused."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        where = _lone_surrogate(data)
        if where is not None:
            raise ValueError(f"text must be valid Unicode: a lone UTF-16 surrogate in {where.split('.')[-1][:100]}")
        return data


class NodeKind(str, Enum):
    """Node kinds that ``GET /v1/similar/{kind}/{id}`` accepts (graph label, lower-case)."""

    track = "track"
    artist = "artist"
    album = "album"
    attribute = "attribute"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class SearchRequest(_Request):
    """One search: free text, how many hits, optional graph filters. ``k`` and ``explain``
    take JSON's types only: ``"k": true``, ``"k": "5"`` or ``"explain": 0`` are refused,
    not coerced."""

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
        pattern=r"\S",
        description=f"free-text query, 1..{MAX_QUERY_CHARS} characters, not blank",
    )
    k: JsonInt = Field(10, ge=1, le=MAX_K, description=f"number of hits, 1..{MAX_K}")
    filters: list[Filter] = Field(
        default_factory=list, max_length=32, description="extra graph constraints, added to those parsed from the query"
    )
    explain: bool = Field(True, strict=True, description="include explanations and graph paths in the hits")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("query is empty after stripping whitespace")
        return value


class BatchRequest(_Request):
    """Several searches answered in one round trip (order kept). The server's limit is in
    its schema (:func:`batch_request_model`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"queries": [{"query": "songs like Bach", "k": 5}, {"query": "slow sad strings"}]}]
        },
    )

    queries: list[SearchRequest] = Field(
        min_length=1, max_length=MAX_BATCH_QUERIES, description=f"the searches, 1..{MAX_BATCH_QUERIES}",
    )


def batch_request_model(max_batch: int) -> type[BatchRequest]:
    """:class:`BatchRequest` with the limit a server enforces (``ServeConfig.max_batch``),
    so that validation and the published schema agree."""
    return create_model(
        "BatchRequest", __base__=BatchRequest, __doc__=BatchRequest.__doc__,
        queries=(list[SearchRequest], Field(min_length=1, max_length=max_batch,
                                            description=f"the searches, 1..{max_batch} (this server's limit)")),
    )


class BatchResponse(BaseModel):
    results: list[SearchResult]


class SimilarResponse(BaseModel):
    """Nearest neighbours of one graph node."""

    kind: NodeKind
    id: str
    hits: list[Hit]


class ErrorBody(BaseModel):
    """Every error but 404 and 422: what went wrong, in one sentence."""

    detail: str


class ValidationIssue(BaseModel):
    """One reason a request was refused. Never echoes the input."""

    loc: list[str | int] = Field(description="where: 'body', 'query' or 'path', then the field path")
    msg: str
    type: str = Field(description="machine-readable kind, e.g. 'missing', 'too_long', 'int_type'")


class ValidationErrorBody(BaseModel):
    """The one shape of every 422: a request that is well-formed HTTP but not a valid call."""

    detail: list[ValidationIssue]


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


class ReloadRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"bundle": "/srv/kgjemb/bundle-2026-11-23"}]})

    bundle: str | None = Field(
        None, max_length=4096, description="bundle directory to load; omitted: reload the current one"
    )


class ReloadResponse(BaseModel):
    bundle: BundleInfoModel
    previous: BundleInfoModel | None = None
    seconds: float
