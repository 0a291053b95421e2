"""The catalog contract: tables, columns, attribute kinds and relation types.

This module is the single source of truth for what a catalog directory may contain
(see ``graph/README.md`` for the curator-facing description). Everything that reads,
validates or loads catalogs, and both graph stores, take their vocabulary from here.
Labels and relationship types written to a graph come only from these fixed sets,
never from data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BY_ROLES",
    "EDGE_PROPERTIES",
    "NODE_PROPERTIES",
    "TABLE_FORMATS",
    "ATTRIBUTE_KINDS",
    "NODE_LABELS",
    "REL_TYPES",
    "RELATION_ENDPOINTS",
    "TABLES",
    "Column",
    "TableSpec",
    "attribute_id",
    "MAX_FIELD_CHARS",
    "MAX_INT",
    "MAX_JSON_DEPTH",
    "MAX_PATH_BYTES",
    "MAX_NAME_BYTES",
]

#: Node labels in the graph.
NODE_LABELS: tuple[str, ...] = ("Artist", "Album", "Track", "Attribute")

#: Attribute kinds accepted in ``track_attributes`` / ``artist_attributes``.
#: Extend here (and only here) to add a kind.
ATTRIBUTE_KINDS: frozenset[str] = frozenset(
    {
        "genre", "mood", "instrument", "era", "key", "mode", "meter", "tempo", "form",
        "region", "vocal", "theme", "ensemble", "texture", "collection", "licence",
    }
)

#: Relationship types that may appear in the ``relations`` table, with (src, dst) labels.
RELATION_ENDPOINTS: dict[str, tuple[str, str]] = {
    "SIMILAR_TO": ("Artist", "Artist"),
    "INFLUENCED_BY": ("Artist", "Artist"),
    "MEMBER_OF": ("Artist", "Artist"),
    "VERSION_OF": ("Track", "Track"),
    "BY": ("Track", "Artist"),  # extra credits; needs `role`
}

#: Every relationship type in the graph, as (src_label, type, dst_label) triples.
REL_TYPES: tuple[tuple[str, str, str], ...] = (
    ("Track", "BY", "Artist"),
    ("Track", "ON", "Album"),
    ("Album", "BY", "Artist"),
    ("Track", "HAS", "Attribute"),
    ("Artist", "HAS", "Attribute"),
    ("Artist", "SIMILAR_TO", "Artist"),
    ("Artist", "INFLUENCED_BY", "Artist"),
    ("Artist", "MEMBER_OF", "Artist"),
    ("Track", "VERSION_OF", "Track"),
)

#: Roles allowed on ``BY`` credits.
BY_ROLES: frozenset[str] = frozenset(
    {"primary", "performer", "composer", "arranger", "tradition", "collector"}
)

#: Properties each node label carries in the graph (besides ``id``), in export order.
#: ``aliases`` is a list of strings; the rest are scalars or None.
NODE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "Artist": ("name", "aliases", "born", "died", "country"),
    "Album": ("title", "year"),
    "Track": ("title", "duration_s", "year", "audio_path"),
    "Attribute": ("name", "kind"),
}

#: Properties every relationship carries in the graph and in exports.
EDGE_PROPERTIES: tuple[str, ...] = ("weight", "source", "role")

# Limits on what a catalog cell may hold. Each is checked explicitly and reported as a
# problem (file, line, field) naming the limit, never left to a library to crash on.

#: longest cell (or header name) in characters, in every format
MAX_FIELD_CHARS = 65_536
#: largest magnitude of an integer cell: the largest integer a float64 holds exactly, so
#: that CSV, JSON and Parquet integers are compared and stored without silent rounding
MAX_INT = 2**53 - 1
#: deepest nesting of arrays/objects on one JSONL line (a row needs 2: object → list)
MAX_JSON_DEPTH = 32
#: longest ``audio_path`` in bytes (UTF-8), and longest single path component (NAME_MAX)
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255

ColumnType = Literal["str", "int", "float", "list"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "str"
    required: bool = False
    #: (table, column) this column references, if any.
    ref: tuple[str, str] | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    #: column whose values must be unique (None: no id column)
    key: str | None = None
    #: whether the catalog must contain this table
    required: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "artists",
            (
                Column("id", required=True),
                Column("name", required=True),
                Column("aliases", "list"),
                Column("born", "int"),
                Column("died", "int"),
                Column("country"),
            ),
            key="id",
            required=True,
        ),
        TableSpec(
            "albums",
            (
                Column("id", required=True),
                Column("title", required=True),
                Column("year", "int"),
                Column("artist_id", ref=("artists", "id")),
            ),
            key="id",
        ),
        TableSpec(
            "tracks",
            (
                Column("id", required=True),
                Column("title", required=True),
                Column("artist_id", required=True, ref=("artists", "id")),
                Column("album_id", ref=("albums", "id")),
                Column("duration_s", "float"),
                Column("year", "int"),
                Column("audio_path"),
            ),
            key="id",
            required=True,
        ),
        TableSpec(
            "track_attributes",
            (
                Column("track_id", required=True, ref=("tracks", "id")),
                Column("kind", required=True),
                Column("value", required=True),
                Column("weight", "float"),
            ),
        ),
        TableSpec(
            "artist_attributes",
            (
                Column("artist_id", required=True, ref=("artists", "id")),
                Column("kind", required=True),
                Column("value", required=True),
                Column("weight", "float"),
            ),
        ),
        TableSpec(
            "relations",
            (
                Column("src", required=True),
                Column("type", required=True),
                Column("dst", required=True),
                Column("weight", "float"),
                Column("source"),
                Column("role"),
            ),
        ),
    )
}

#: File suffixes a table may have, in the order they are looked for.
TABLE_FORMATS: tuple[str, ...] = (".csv", ".jsonl", ".parquet")


def attribute_id(kind: str, value: str) -> str:
    """Stable id of an attribute node: ``kind:value``, lower-cased and space-normalised.

    >>> attribute_id("Key", "D  minor")
    'key:d minor'
    """
    return f"{kind.strip().lower()}:{' '.join(value.split()).lower()}"
