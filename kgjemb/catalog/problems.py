"""What validation finds: one :class:`Problem` per bad record/field, gathered in a report.

Every problem names the file, the physical line (CSV: header is line 1; JSONL: 1-based
line; Parquet: row index + 2), the field and a message a curator can act on. Warnings
(unknown columns, unknown files) are reported but do not make a catalog invalid.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Problem", "ValidationReport", "shown"]

Severity = Literal["error", "warning"]

#: how much of an offending value a message quotes
SHOWN_CHARS = 80


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for a message, clipped to ``limit`` characters (a 100,000-character
    cell is quoted by its start and length, not in full) and safe to print: lone
    surrogates and control characters come out escaped, as ``repr`` writes them.

    >>> shown("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' (1000 characters)"
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}"[:-1] + f"…' ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "…"


class Problem(BaseModel):
    """One problem: where it is (``file``, ``line``, ``field``) and what is wrong.

    ``table`` is the catalog table of the offending *row* (None for problems about a whole
    file or the directory, e.g. a missing header column); ``line`` is None for whole-file
    problems.

    >>> str(Problem(file="tracks.csv", line=3, field="artist_id", message="unknown artist 'x'"))
    "tracks.csv:3 [artist_id]: unknown artist 'x'"
    """

    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None = None
    field: str | None = None
    message: str
    severity: Severity = "error"
    table: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        field = f" [{self.field}]" if self.field else ""
        tag = "" if self.severity == "error" else " (warning)"
        return f"{where}{field}: {self.message}{tag}"

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }


class ValidationReport(BaseModel):
    """All problems of one catalog, sorted by (file, line, field, message).

    ``valid`` is True when there is no error (warnings allowed).
    """

    problems: list[Problem] = []

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors

    def error_rows(self) -> set[tuple[str, int]]:
        """(table, line) of every row with an error: the rows ``--skip-invalid`` leaves out."""
        return {(p.table, p.line) for p in self.errors if p.table and p.line is not None}

    def fatal(self) -> list[Problem]:
        """Errors that are not about one row (a missing table, an unreadable file): these
        cannot be skipped row by row."""
        return [p for p in self.errors if p.table is None or p.line is None]

    def to_dict(self) -> dict:
        return {"valid": self.valid, "problems": [p.to_dict() for p in self.problems]}

    def sorted(self) -> "ValidationReport":
        key = lambda p: (p.file, p.line if p.line is not None else -1, p.field or "", p.message)  # noqa: E731
        return ValidationReport(problems=sorted(self.problems, key=key))
