"""Named exceptions. Every error a user can cause names the record, field or file at fault."""
from __future__ import annotations

__all__ = [
    "BundleError",
    "CatalogError",
    "ConfigError",
    "DeviceError",
    "KgjembError",
    "MissingDependencyError",
    "QueryError",
    "StoreError",
    "UnknownEntityError",
    "ValidationFailed",
]


class KgjembError(Exception):
    """Base class of every error this package raises on purpose."""


class CatalogError(KgjembError):
    """A catalog directory cannot be read at all (missing dir, no tables, unreadable file)."""


class ValidationFailed(KgjembError):
    """A catalog has problems; ``problems`` lists every one (file, line, field, message)."""

    def __init__(self, problems: list) -> None:
        self.problems = problems
        super().__init__(f"catalog is invalid: {len(problems)} problem(s)")


class ConfigError(KgjembError, ValueError):
    """A settings file or value cannot be used; names the file and the setting at fault."""


class DeviceError(KgjembError, ValueError):
    """A ``--device`` cannot be used: an unknown name, or CUDA asked for where there is none."""


class StoreError(KgjembError):
    """A graph store could not be opened, read or written."""


class BundleError(KgjembError):
    """An index bundle is missing, incomplete, or fails its checksums; names the file."""


class QueryError(KgjembError, ValueError):
    """A query is empty, too long, or otherwise unusable."""


class UnknownEntityError(KgjembError, KeyError):
    """A named entity (node id or name) is not in the graph; ``candidates`` are the closest."""

    def __init__(self, name: str, candidates: list | None = None) -> None:
        self.name = name
        self.candidates = list(candidates or [])
        hint = f"; closest: {', '.join(map(str, self.candidates[:5]))}" if self.candidates else ""
        super().__init__(f"unknown entity {name!r}{hint}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class MissingDependencyError(KgjembError, ImportError):
    """An optional dependency or system package is missing; the message says how to install it."""
