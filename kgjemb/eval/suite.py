"""Query suites: JSONL files, one query per line (format: queries/README.md).

A row is ``{"id", "query", "kind", "relevant"}`` with ``kind`` one of :data:`KINDS` and
``relevant`` either a list of track ids or a :class:`~kgjemb.eval.rules.Rule` resolved
against the graph at evaluation time; ``grades`` (``{track_id: grade}``) optionally gives
graded relevance (it overrides the grades of listed/ruled tracks and adds tracks).

>>> rows = load_suite("queries/handwritten.jsonl")  # doctest: +SKIP
>>> rows[0].kind  # doctest: +SKIP
'entity'
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kgjemb.atomic import atomic_open
from kgjemb.errors import KgjembError
from kgjemb.eval.rules import Rule

__all__ = ["KINDS", "SuiteRow", "SuiteError", "load_suite", "load_suites", "write_suite"]

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = (
    "entity", "attribute-tag", "attribute-sentence", "unseen-word", "compositional", "negation", "filter",
)


class SuiteError(KgjembError, ValueError):
    """A suite file is missing or one of its rows is malformed (message names file:line)."""


class SuiteRow(BaseModel):
    """One evaluation query."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    query: str = Field(min_length=1)
    kind: Literal["entity", "attribute-tag", "attribute-sentence", "unseen-word", "compositional",
                  "negation", "filter"]
    relevant: Union[list[str], Rule]
    grades: dict[str, float] | None = None
    note: str | None = None
    source: str | None = Field(None, description="file:line it was read from (set by load_suite)")


def load_suite(path: str | os.PathLike) -> list[SuiteRow]:
    """Read one JSONL suite; raise :class:`SuiteError` naming ``file:line`` for a bad row
    (invalid JSON, unknown kind or field, duplicate id). Blank lines and ``//`` comment
    lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file")
    rows: list[SuiteRow] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            text = line.strip()
            if not text or text.startswith("//"):
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SuiteError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(data, dict):
                raise SuiteError(f"{path}:{n}: a row must be a JSON object")
            try:
                row = SuiteRow.model_validate({**data, "source": f"{path.name}:{n}"})
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors()[:3])
                raise SuiteError(f"{path}:{n}: bad row: {problems}") from None
            if row.id in seen:
                raise SuiteError(f"{path}:{n}: duplicate id {row.id!r} (first on line {seen[row.id]})")
            seen[row.id] = n
            rows.append(row)
    logger.info("suite %s: %d queries", path, len(rows))
    return rows


def load_suites(paths: Iterable[str | os.PathLike]) -> list[SuiteRow]:
    """Several suites in order; ids must be unique across them."""
    out: list[SuiteRow] = []
    seen: dict[str, str] = {}
    for p in paths:
        for row in load_suite(p):
            if row.id in seen:
                raise SuiteError(f"{row.source}: id {row.id!r} already used in {seen[row.id]}")
            seen[row.id] = row.source or ""
            out.append(row)
    return out


def write_suite(path: str | os.PathLike, rows: Iterable[SuiteRow | dict]) -> Path:
    """Write rows as JSONL atomically (temp file + rename); ``source`` is not written."""
    path = Path(path)
    with atomic_open(path) as fh:
        for row in rows:
            r = row if isinstance(row, SuiteRow) else SuiteRow.model_validate(row)
            fh.write(json.dumps(r.model_dump(mode="json", exclude_defaults=True, exclude={"source"}), ensure_ascii=False) + "\n")
    return path
