"""Read a catalog directory's tables into raw DataFrames indexed by physical line number.

This layer only *reads*: it finds ``NAME.csv|jsonl|parquet`` files, decodes them (reporting
non-UTF-8 lines, unparseable lines, empty or headerless files, unknown columns) and returns
one raw frame per table whose index is the line number a curator sees in an editor (CSV:
header is line 1; JSONL: 1-based; Parquet: row index + 2). Types, references and audio are
checked by :mod:`kgjemb.catalog.validate`.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kgjemb.catalog.problems import Problem, shown
from kgjemb.catalog.schema import MAX_FIELD_CHARS, MAX_JSON_DEPTH, TABLE_FORMATS, TABLES, TableSpec
from kgjemb.errors import CatalogError

__all__ = ["RawTable", "find_tables", "read_table", "read_raw_tables"]

logger = logging.getLogger(__name__)


@dataclass
class RawTable:
    """One table as read from disk: values untyped (str for CSV, JSON/Arrow values otherwise).

    ``frame`` has exactly the spec's columns (absent ones filled with None) and an int index
    of physical line numbers; ``missing_columns`` lists required columns absent from the
    file (reported once, not per row).
    """

    name: str
    file: str
    format: str
    frame: pd.DataFrame
    missing_columns: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)


def _empty_frame(spec: TableSpec) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in spec.column_names}, index=pd.Index([], dtype=np.int64))


def find_tables(root: Path) -> tuple[dict[str, Path], list[Problem]]:
    """Map table name → file for every known table in ``root``; report tables given in two
    formats and table-like files with unknown names (warning, with the valid choices)."""
    if not root.is_dir():
        raise CatalogError(f"catalog directory {str(root)!r} does not exist or is not a directory")
    found: dict[str, list[Path]] = {}
    problems: list[Problem] = []
    for path in sorted(root.iterdir()):
        if not path.is_file() or path.suffix.lower() not in TABLE_FORMATS:
            continue
        if path.stem in TABLES:
            found.setdefault(path.stem, []).append(path)
        else:
            problems.append(Problem(
                file=path.name, message=f"unknown table {path.stem!r} is ignored; tables are {sorted(TABLES)}",
                severity="warning",
            ))
    tables: dict[str, Path] = {}
    for name, paths in found.items():
        if len(paths) > 1:
            problems.append(Problem(
                file=", ".join(p.name for p in paths),
                message=f"table {name!r} is given in {len(paths)} formats; keep exactly one",
            ))
            continue
        tables[name] = paths[0]
    for name, spec in TABLES.items():
        if spec.required and name not in tables and name not in found:
            problems.append(Problem(
                file=f"{name}.csv",
                message=f"required table {name!r} is missing (expected one of "
                + ", ".join(name + s for s in TABLE_FORMATS) + ")",
            ))
    return tables, problems


#: a line ends with CRLF, LF or a lone CR (old Mac files): the breaks an editor shows
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")


def _decode(data: bytes, file: str) -> tuple[str, list[Problem]]:
    """UTF-8 text of ``data`` (BOM dropped); every line that is not valid UTF-8 is reported
    and decoded with replacement characters so that the rest can still be checked."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    problems = []
    for i, raw in enumerate(_LINE_BREAK_BYTES.split(data), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(Problem(
                file=file, line=i, message=f"not valid UTF-8 (byte {raw[err.start]:#04x} at column {err.start + 1}); "
                "save the file as UTF-8",
            ))
    return data.decode("utf-8", errors="replace"), problems


def _conform(frame: pd.DataFrame, spec: TableSpec, raw: RawTable, first_lines: dict[str, int]) -> None:
    """Give ``frame`` exactly the spec's columns; report unknown and missing columns."""
    for col in frame.columns:
        if col not in spec.column_names:
            raw.problems.append(Problem(
                file=raw.file, line=first_lines.get(col), field=str(col)[:MAX_SHOWN_NAME], severity="warning",
                message=f"unknown column {shown(col)} is ignored; columns of {spec.name} are {list(spec.column_names)}",
            ))
    missing = tuple(c for c in spec.required_columns if c not in frame.columns)
    for col in missing:
        raw.problems.append(Problem(
            file=raw.file, line=first_lines.get("__header__"), field=col,
            message=f"required column {col!r} is missing",
        ))
    out = pd.DataFrame(index=frame.index)
    for col in spec.column_names:
        # CSV columns stay pandas "str" (Arrow-backed: vectorised strip/isin); JSON/Parquet
        # values keep their Python types until validation coerces them.
        out[col] = frame[col] if col in frame.columns else pd.Series([None] * len(frame), index=frame.index, dtype=object)
    raw.frame = out
    raw.missing_columns = missing


#: longest column name a problem's ``field`` repeats (the message says how long it was)
MAX_SHOWN_NAME = 200


@contextlib.contextmanager
def _csv_field_limit(n: int):
    """Let the stdlib csv module read fields of up to ``n`` characters (its default, 131,072,
    raises ``_csv.Error`` mid-file); the real limit, ``MAX_FIELD_CHARS``, is checked
    afterwards and reported per cell. The old process-wide value is restored on exit."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, n))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _first_record(text: str) -> list[str]:
    """The header: the first CSV record (universal newlines)."""
    return next(csv.reader(io.StringIO(text, newline="")), [])


def _read_csv(text: str, raw: RawTable, spec: TableSpec) -> pd.DataFrame | None:
    """Read a CSV table: pyarrow when every record is one line with the header's field
    count (LF or CRLF endings), else record by record (multi-line cells, lone-CR line
    endings, blank lines, rows with too few or too many fields, each reported)."""
    with _csv_field_limit(len(text) + 1):
        try:
            header = [h.strip() for h in _first_record(text)]
        except csv.Error as err:
            raw.problems.append(Problem(file=raw.file, line=1, message=f"unreadable header line: {err}"))
            return None
        for i, h in enumerate(header, start=1):
            if len(h) > MAX_FIELD_CHARS:
                raw.problems.append(Problem(
                    file=raw.file, line=1, field=h[:MAX_SHOWN_NAME],
                    message=f"header cell {i} is {len(h)} characters long; the limit is {MAX_FIELD_CHARS}",
                ))
        if not any(h in spec.column_names for h in header):
            first = _LINE_BREAK.split(text, maxsplit=1)[0]
            raw.problems.append(Problem(
                file=raw.file, line=1,
                message=f"no header line: line 1 is {shown(first)}; the first line must name the columns, "
                f"e.g. {','.join(spec.column_names)}",
            ))
            return None
        lone_cr = "\r" in text and text.count("\r") != text.count("\r\n")
        if not lone_cr:
            body = text[:-1] if text.endswith("\n") else text
            frame = _read_csv_arrow(text, header, body.count("\n") + 1)
            if frame is not None:
                return frame
        return _read_csv_slow(text, raw, header)


def _read_csv_arrow(text: str, header: list[str], n_lines: int) -> pd.DataFrame | None:
    """Fastest path (pyarrow's CSV parser, ~3x pandas'): only for files where every record
    is one physical line with the header's field count and there are no blank lines —
    anything else returns None and goes to the pandas / record-by-record readers."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if len(set(header)) != len(header):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    if table.num_rows != n_lines - 1:  # blank or multi-line records: line numbers would shift
        return None
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
    frame.columns = [h.strip() for h in header]
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame


def _read_csv_slow(text: str, raw: RawTable, header: list[str]) -> pd.DataFrame:
    """Record-by-record CSV reading: exact start lines for multi-line cells (universal
    newlines: LF, CRLF or lone CR), and a problem for every record with the wrong number of
    fields. Call inside :func:`_csv_field_limit`."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    rows, index = [], []
    prev_end = reader.line_num
    n = len(header)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as err:  # the csv module gives up on the rest of the file
            raw.problems.append(Problem(
                file=raw.file, line=prev_end + 1, table=raw.name, message=f"unreadable CSV record: {err}"))
            break
        start, prev_end = prev_end + 1, reader.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) != n:
            raw.problems.append(Problem(
                file=raw.file, line=start, table=raw.name,
                message=f"expected {n} fields (as in the header), got {len(record)}",
            ))
            record = (record + [""] * n)[:n]
        rows.append(record)
        index.append(start)
    return pd.DataFrame(rows, columns=header, index=pd.Index(index, dtype=np.int64))


#: a JSON escape that may decode to a lone UTF-16 surrogate (paired ones decode to a character)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_depth(line: str) -> int:
    """Deepest nesting of arrays/objects on ``line`` (brackets inside strings don't count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _lone_surrogate(obj: dict) -> str | None:
    """The first key whose name or value holds a lone surrogate (not valid Unicode text)."""
    def bad(v) -> bool:
        if isinstance(v, str):
            return _SURROGATE.search(v) is not None
        if isinstance(v, list):
            return any(bad(x) for x in v)
        if isinstance(v, dict):
            return any(bad(k) or bad(x) for k, x in v.items())
        return False

    for key, value in obj.items():
        if bad(key) or bad(value):
            return key
    return None


def _read_jsonl(text: str, raw: RawTable) -> pd.DataFrame:
    records, index = [], []
    loads = json.loads
    for i, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        # a line can only be nested deeper than the limit if it has that many brackets
        if line.count("[") + line.count("{") > MAX_JSON_DEPTH and (depth := _json_depth(line)) > MAX_JSON_DEPTH:
            raw.problems.append(Problem(
                file=raw.file, line=i, table=raw.name,
                message=f"JSON nested {depth} levels deep; the limit is {MAX_JSON_DEPTH}"))
            continue
        try:
            obj = loads(line)
        except (ValueError, RecursionError) as err:
            raw.problems.append(Problem(file=raw.file, line=i, table=raw.name, message=f"invalid JSON: {err}"))
            continue
        if not isinstance(obj, dict):
            raw.problems.append(Problem(
                file=raw.file, line=i, table=raw.name,
                message=f"expected a JSON object per line, got {type(obj).__name__}",
            ))
            continue
        if _SURROGATE_ESCAPE.search(line) and (key := _lone_surrogate(obj)) is not None:
            raw.problems.append(Problem(
                file=raw.file, line=i, table=raw.name, field=shown(key)[1:-1][:MAX_SHOWN_NAME],
                message="not valid Unicode text: a \\u escape decodes to a lone UTF-16 surrogate"))
            continue
        records.append(obj)
        index.append(i)
    return pd.DataFrame.from_records(records, index=pd.Index(index, dtype=np.int64)) if records else pd.DataFrame(
        index=pd.Index([], dtype=np.int64))


def _first_lines(frame: pd.DataFrame) -> dict[str, int]:
    """First line on which each column has a value (for locating unknown JSON keys)."""
    out = {}
    for col in frame.columns:
        present = frame.index[frame[col].notna().to_numpy()]
        if len(present):
            out[str(col)] = int(present[0])
    return out


def read_table(name: str, path: Path) -> RawTable:
    """Read one table file; problems go into ``RawTable.problems`` (never raised)."""
    spec = TABLES[name]
    fmt = path.suffix.lower().lstrip(".")
    raw = RawTable(name=name, file=path.name, format=fmt, frame=_empty_frame(spec))
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            frame = pq.read_table(path).to_pandas()
            frame.index = pd.RangeIndex(2, 2 + len(frame))
            for col in frame.columns:  # dictionary-encoded columns: plain values
                if isinstance(frame[col].dtype, pd.CategoricalDtype):
                    frame[col] = frame[col].astype(object)
            _conform(frame, spec, raw, {**_first_lines(frame), "__header__": None})
            _check_sizes(raw, spec)
            return raw
        data = path.read_bytes()
    except Exception as err:  # unreadable or corrupt file: one problem, the table is empty
        raw.problems.append(Problem(file=path.name, message=f"cannot read {fmt} file: {err}"))
        return raw
    if not data.strip():
        raw.problems.append(Problem(file=path.name, message="file is empty" + (
            "; a CSV table needs at least a header line" if fmt == "csv" else "")))
        return raw
    text, problems = _decode(data, path.name)
    for p in problems:
        raw.problems.append(p.model_copy(update={"table": name}))
    if fmt == "csv":
        frame = _read_csv(text, raw, spec)
        if frame is None:
            return raw
        _conform(frame, spec, raw, {c: 1 for c in frame.columns} | {"__header__": 1})
    else:
        frame = _read_jsonl(text, raw)
        _conform(frame, spec, raw, {**_first_lines(frame), "__header__": None})
    # a JSONL cell lies within one line: short lines cannot hold an over-long cell
    if fmt == "csv" or max(map(len, _LINE_BREAK.split(text))) > MAX_FIELD_CHARS:
        _check_sizes(raw, spec)
    return raw


def _check_sizes(raw: RawTable, spec: TableSpec) -> None:
    """One problem per cell longer than ``MAX_FIELD_CHARS`` characters (a list cell: its
    items together), in every format. The value stays: the row is an error row."""
    for col in spec.column_names:
        s = raw.frame[col]
        if not len(s):
            continue
        if isinstance(s.dtype, pd.StringDtype):
            lengths = s.str.len().to_numpy(dtype=np.float64, na_value=0.0)
        elif s.dtype == object:
            lengths = np.fromiter(
                (len(v) if isinstance(v, str) else sum(len(x) for x in v if isinstance(x, str))
                 if isinstance(v, (list, tuple, np.ndarray)) else 0 for v in s.tolist()),
                dtype=np.float64, count=len(s))
        else:
            continue
        lines = raw.frame.index.to_numpy()
        for pos in np.flatnonzero(lengths > MAX_FIELD_CHARS).tolist():
            line, n = int(lines[pos]), int(lengths[pos])
            raw.problems.append(Problem(
                file=raw.file, line=line, field=col, table=raw.name,
                message=f"value is {n} characters long; the limit is {MAX_FIELD_CHARS}"))


def read_raw_tables(root: Path) -> tuple[dict[str, RawTable], list[Problem]]:
    """Read every table of the catalog at ``root`` (absent optional tables come back empty).

    Raises :class:`~kgjemb.errors.CatalogError` when ``root`` is not a directory.
    """
    paths, problems = find_tables(root)
    tables = {}
    for name, spec in TABLES.items():
        if name in paths:
            tables[name] = read_table(name, paths[name])
            logger.debug("read %s: %d rows", paths[name].name, len(tables[name].frame))
        else:
            tables[name] = RawTable(name=name, file=f"{name}.csv", format="absent", frame=_empty_frame(spec))
    return tables, problems
