"""Files for Neo4j's own bulk importer (``neo4j-admin database import full``): the fastest
first load of an EMPTY database, for a DBMS whose data directory is at hand (the dev/test
server of ``scripts/neo4j-dev``, or an operator running ``neo4j-admin`` next to the server).

:func:`write_import_files` writes one CSV per label and per relationship key, with typed
headers, plus ``import.args``: the importer's arguments, one per line (picocli reads it as
``@import.args``). ``scripts/neo4j-dev import --data DIR --files OUT`` then has the running
launcher import them in its own JVM (``neo4j-import-tool`` already comes with
``org.neo4j:neo4j``) into a staging database and swap it in for ``neo4j`` (only that database
stops and starts, not the DBMS), or imports them before a stopped server starts; the store's
constraints and indexes are created when a
:class:`~kgjemb.graph.neo4j_store.Neo4jGraphStore` next opens it (index creation after the
load, as the importer expects: Community's record format takes no ``--schema``). Only the
files with a value spanning lines are named to the importer's slow multi-line parser.

What it writes is the store's diff against an empty graph
(:meth:`~kgjemb.graph.neo4j_store.Neo4jGraphStore.write_import_files`): one row per node id
and per (src, dst), the last row winning, no dangling relationship. The result is the same
graph as the batched MERGE path (a parity test compares exports): a None property is simply absent (the MERGE path's SET of
null removes it), integers are stored as ``long``, floats as ``double``, ``aliases`` as a
string array. The importer runs with ``--bad-tolerance=0 --strict``: a bad entry aborts it,
and the previous database stays as it was (the staging files are removed), never
half-written.

>>> files = store.write_import_files(rows, Path("/tmp/kg-import"))      # doctest: +SKIP
>>> # scripts/neo4j-dev import --data .kgjemb/neo4j-dev --files /tmp/kg-import
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_LABELS, NODE_PROPERTIES, REL_TYPES
from kgjemb.graph.base import GraphDiff
from kgjemb.graph.frames import FLOAT_PROPERTIES, INT_PROPERTIES, LIST_PROPERTIES

__all__ = ["ARRAY_DELIMITER", "ImportFiles", "write_import_files"]

logger = logging.getLogger(__name__)

#: separator of array elements inside one CSV cell (``aliases``): the ASCII unit separator,
#: which a name never contains (a value holding it is refused with its node id)
ARRAY_DELIMITER = "\x1f"


@dataclass(frozen=True)
class ImportFiles:
    """What :func:`write_import_files` wrote: the folder, the argument file and the rows."""

    folder: Path
    args_file: Path
    rows: int
    seconds: float


def _header_type(prop: str) -> str:
    if prop in INT_PROPERTIES:
        return f"{prop}:long"
    if prop in FLOAT_PROPERTIES:
        return f"{prop}:double"
    if prop in LIST_PROPERTIES:
        return f"{prop}:string[]"
    return prop


def _quote(text) -> str:
    return '"' + str(text).replace('"', '""') + '"'


def _text(value) -> str:
    # quoted, so that an empty string stays one; None unquoted empty: no property
    return "" if value is None else '"' + str(value).replace('"', '""') + '"'


def _int(value) -> str:
    return "" if value is None else str(int(value))


def _float(value) -> str:
    if value is None or value != value:  # NaN: missing, as the export reads it
        return ""
    return repr(float(value))


def _list(value) -> str:
    items = [] if value is None or isinstance(value, float) else [str(v) for v in value]
    if not items:
        return ""
    for item in items:
        if ARRAY_DELIMITER in item:
            raise ValueError(f"element {item!r} holds the importer's array delimiter U+001F")
    return _quote(ARRAY_DELIMITER.join(items))


def _formatter(prop: str):
    if prop in INT_PROPERTIES:
        return _int
    if prop in FLOAT_PROPERTIES:
        return _float
    if prop in LIST_PROPERTIES:
        return _list
    return _text


def _write(path: Path, header: list[str], created: dict, props: tuple[str, ...], what: str) -> bool:
    """Write one CSV of ``created`` (id or (src, dst) -> property tuple); True when a value
    in it spans lines (a quoted newline or carriage return: more line breaks than rows),
    which the importer must then parse as multi-line."""
    formats = [_formatter(p) for p in props]
    try:
        body = _columns_text(created, props)
    except (TypeError, ValueError):  # the per-row path names the record and property
        body = "".join(_lines(created.keys(), created.values(), formats, what))
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(header) + "\n")
        fh.write(body)
    data = path.read_bytes()  # C-speed counts: cheaper than a check per value
    return b"\r" in data or data.count(b"\n") != len(created) + 1


def _columns_text(created: dict, props: tuple[str, ...]) -> str:
    """The CSV body, formatted column by column (one comprehension per column: half the
    time of a formatter call per value); the same text as :func:`_lines`."""
    if not created:
        return ""
    keys, values = list(created), list(created.values())
    ends = [keys] if isinstance(keys[0], str) else [list(map(itemgetter(i), keys)) for i in (0, 1)]
    columns = [[_quote(k) for k in end] for end in ends]
    for i, prop in enumerate(props):
        column = map(itemgetter(i), values)
        if prop in INT_PROPERTIES:
            columns.append(["" if v is None else str(int(v)) for v in column])
        elif prop in FLOAT_PROPERTIES:
            columns.append(["" if v is None or v != v else repr(float(v)) for v in column])
        elif prop in LIST_PROPERTIES:
            columns.append([_list(v) for v in column])
        else:
            columns.append(["" if v is None else '"' + str(v).replace('"', '""') + '"' for v in column])
    return "\n".join(map(",".join, zip(*columns))) + "\n"


def _lines(keys, values, formats, what: str):
    """CSV lines of one table: ``keys`` are ids or (src, dst) pairs, ``values`` property tuples."""
    for key, props in zip(keys, values):
        ends = (_quote(key),) if isinstance(key, str) else (_quote(key[0]), _quote(key[1]))
        try:
            yield ",".join([*ends, *(f(v) for f, v in zip(formats, props))]) + "\n"
        except (TypeError, ValueError) as err:
            raise ValueError(f"{what} {key!r}: {err}") from err


def write_import_files(diff: GraphDiff, folder: Path) -> ImportFiles:
    """Write the nodes and relationships ``diff`` creates (a diff against an EMPTY graph:
    created only, dangling relationships already left out) as importer CSVs under
    ``folder`` (created; existing files replaced), and ``folder/import.args`` naming them.
    Raises ``ValueError`` when ``diff`` changes or deletes anything, or naming the node and
    property of a value the CSV cannot carry."""
    start = time.perf_counter()
    if any(t.changed or t.deleted for t in (*diff.nodes.values(), *diff.edges.values())):
        raise ValueError("the importer loads an empty graph: the diff must only create nodes and relationships")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(c in str(folder.resolve()) for c in '"\\\n,'):
        raise ValueError(f"importer folder {str(folder)!r}: its path must not hold a quote, backslash, comma or newline")
    args = ["--bad-tolerance=0", "--strict=true", "--id-type=string",
            "--array-delimiter=U+001F", "--overwrite-destination=true",
            f"--report-file={(folder / 'import.report').resolve()}"]
    count = 0
    multiline: list[Path] = []  # files whose values span lines (the importer parses only these slowly)
    for label in NODE_LABELS:
        props = NODE_PROPERTIES[label]
        created = diff.nodes[label].created if label in diff.nodes else {}
        path = folder / f"nodes_{label}.csv"
        if _write(path, [f"id:ID({label})", *map(_header_type, props)], created, props, label):
            multiline.append(path)
        args.append(f"--nodes={label}={path.resolve()}")
        count += len(created)
    for key in REL_TYPES:
        src_label, rtype, dst_label = key
        created = diff.edges[key].created if key in diff.edges else {}
        path = folder / f"rels_{'_'.join(key)}.csv"
        if _write(path, [f":START_ID({src_label})", f":END_ID({dst_label})", *map(_header_type, EDGE_PROPERTIES)],
                  created, EDGE_PROPERTIES, rtype):
            multiline.append(path)
        args.append(f"--relationships={rtype}={path.resolve()}")
        count += len(created)
    if multiline:  # v2: only the named files take the slow multi-line parser (v1 "true": all of them)
        args += ["--multiline-fields-format=v2", f"--multiline-fields={','.join(str(p.resolve()) for p in multiline)}"]
    args_file = folder / "import.args"
    # quoted, one per line: picocli's @file syntax, so that a path with spaces stays one argument
    args_file.write_text("".join(f'"{a}"\n' for a in args), encoding="utf-8")
    seconds = time.perf_counter() - start
    logger.info("wrote %d rows as importer CSVs under %s in %.2fs", count, folder, seconds)
    return ImportFiles(folder=folder, args_file=args_file, rows=count, seconds=seconds)
