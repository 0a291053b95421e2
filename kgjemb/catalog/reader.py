"""Read a catalog directory's tables into raw DataFrames indexed by physical line number.

This layer only *reads*: it finds ``NAME.csv|jsonl|parquet`` files, decodes them (reporting
non-UTF-8 lines, unparseable lines, empty or headerless files, unknown columns) and returns
one raw frame per table whose index is the line number a curator sees in an editor (CSV:
header is line 1; JSONL: 1-based; Parquet: row index + 2). Types, references and audio are
checked by :mod:`kgjemb.catalog.validate`.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kgjemb.catalog.problems import Problem
from kgjemb.catalog.schema import TABLE_FORMATS, TABLES, TableSpec
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
    for i, raw in enumerate(data.split(b"\n"), start=1):
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
                file=raw.file, line=first_lines.get(col), field=str(col), severity="warning",
                message=f"unknown column {col!r} is ignored; columns of {spec.name} are {list(spec.column_names)}",
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


_BLANK_LINE = re.compile(r"\n[ \t\r]*(?:\n|$)")


def _read_csv(text: str, raw: RawTable, spec: TableSpec) -> pd.DataFrame | None:
    body = text[:-1] if text.endswith("\n") else text
    n_lines = body.count("\n") + 1
    header_line = body.split("\n", 1)[0].strip("\r")
    header = next(csv.reader([header_line]), [])
    header = [h.strip() for h in header]
    if not any(h in spec.column_names for h in header):
        raw.problems.append(Problem(
            file=raw.file, line=1,
            message=f"no header line: line 1 is {header_line[:80]!r}; the first line must name the columns, "
            f"e.g. {','.join(spec.column_names)}",
        ))
        return None
    frame = _read_csv_arrow(text, header, n_lines)
    if frame is not None:
        return frame
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""],
                skip_blank_lines=False, index_col=False,
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError):
        frame = None
    # The fast path is right only when every record is one physical line.
    if frame is not None and len(frame) == n_lines - 1:
        frame.columns = [str(c).strip() for c in frame.columns]
        frame.index = pd.RangeIndex(2, 2 + len(frame))
        if _BLANK_LINE.search(body):  # rare: find and drop the blank lines
            blank = [i + 1 for i, ln in enumerate(body.split("\n")) if i > 0 and not ln.strip()]
            frame = frame.drop(index=blank)
        return frame
    return _read_csv_slow(text, raw, header)


def _read_csv_arrow(text: str, header: list[str], n_lines: int) -> pd.DataFrame | None:
    """Fastest path (pyarrow's CSV parser, ~3x pandas'): only for files where every record
    is one physical line with the header's field count and there are no blank lines —
    anything else returns None and goes to the pandas / record-by-record readers."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if len(set(header)) != len(header) or "\r" in text:
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
    """Record-by-record CSV reading: exact start lines for multi-line cells, and a problem for
    every record with the wrong number of fields."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    rows, index = [], []
    prev_end = reader.line_num
    n = len(header)
    for record in reader:
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


def _read_jsonl(text: str, raw: RawTable) -> pd.DataFrame:
    records, index = [], []
    loads = json.loads
    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except ValueError as err:
            raw.problems.append(Problem(file=raw.file, line=i, table=raw.name, message=f"invalid JSON: {err}"))
            continue
        if not isinstance(obj, dict):
            raw.problems.append(Problem(
                file=raw.file, line=i, table=raw.name,
                message=f"expected a JSON object per line, got {type(obj).__name__}",
            ))
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
            _conform(frame, spec, raw, {**_first_lines(frame), "__header__": None})
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
    return raw


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
