"""Validate a catalog directory and return it typed: every problem at once, vectorised.

Checks (all column-wise with pandas, no per-row models, so validation keeps up with
loading): required fields, types (int/float/list), duplicate ids, dangling references
(track→artist/album, album→artist, attribute rows, relation endpoints per
``RELATION_ENDPOINTS``), unknown relationship types and attribute kinds (with the valid
choices), ``BY`` relations without a valid role, and missing or undecodable audio files.
Reading problems (encoding, empty/headerless files, unknown columns) come from
:mod:`kgjemb.catalog.reader`.

>>> catalog, report = validate_catalog("graph/fixtures/example")
>>> report.valid, len(catalog.tables["tracks"])
(True, 14)
"""
from __future__ import annotations

import datetime
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from kgjemb.catalog.problems import Problem, ValidationReport, shown
from kgjemb.catalog.reader import RawTable, read_raw_tables
from kgjemb.catalog.schema import (
    ATTRIBUTE_KINDS, BY_ROLES, MAX_INT, MAX_NAME_BYTES, MAX_PATH_BYTES, RELATION_ENDPOINTS, TABLES, Column,
)

__all__ = ["Catalog", "AudioPaths", "validate_catalog", "check_audio"]

logger = logging.getLogger(__name__)

#: Which table holds the nodes of each label (for relation endpoint checks).
LABEL_TABLE = {"Artist": "artists", "Album": "albums", "Track": "tracks"}


@dataclass
class Catalog:
    """A catalog read from ``root``: one typed DataFrame per table (every table of
    ``schema.TABLES`` present, possibly empty) indexed by physical line number.

    Column types: ``str`` columns are ``object`` dtype holding stripped ``str`` or None;
    ``int`` columns are pandas ``Int64``; ``float`` columns ``float64`` (NaN = missing);
    ``list`` columns hold lists of str. ``files[table]`` is the file the rows came from.
    """

    root: Path
    tables: dict[str, pd.DataFrame]
    files: dict[str, str] = field(default_factory=dict)
    #: True when validation found no error: every row is usable as it is (lets
    #: ``catalog_to_rows`` skip re-checking references). Set by :func:`validate_catalog`.
    valid: bool = False

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())


def _is_missing(s: pd.Series) -> np.ndarray:
    """None, NaN, or a blank string."""
    missing = np.array(s.isna().to_numpy(), dtype=bool)
    if not len(s) or missing.all():
        return missing
    if isinstance(s.dtype, pd.StringDtype):  # Arrow-backed str column: vectorised strip
        missing |= (s.str.strip() == "").to_numpy(dtype=bool, na_value=False)
    elif s.dtype == object:
        missing |= s.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    return missing


def _emit(problems: list[Problem], raw: RawTable, mask: np.ndarray, col: str, values, message) -> None:
    """One problem per True in ``mask``; ``message(value)`` builds the text."""
    if not mask.any():
        return
    lines = raw.frame.index.to_numpy()[mask]
    vals = np.asarray(values, dtype=object)[mask]
    for line, v in zip(lines, vals):
        problems.append(Problem(file=raw.file, line=int(line), field=col, message=message(v), table=raw.name))


def _coerce(raw: RawTable, col: Column, problems: list[Problem]) -> pd.Series:
    """Typed version of one raw column; wrong-typed values are reported and become missing."""
    s = raw.frame[col.name]
    textual = raw.format == "csv"
    missing = _is_missing(s)
    if col.type == "str":
        # typed str columns are object dtype (str or None): pandas' hashtable isin/unique on
        # objects is fast, its Arrow-string isin is not (one pa.scalar per value)
        if missing.all():
            return pd.Series([None] * len(s), index=s.index, dtype=object)  # Series(None) would hold NaN
        if isinstance(s.dtype, pd.StringDtype):
            stripped = s.str.strip().to_numpy(dtype=object, na_value=None)
            stripped[missing] = None
            return pd.Series(stripped, index=s.index, dtype=object)
        kinds = s.map(type)
        bad = ~missing & kinds.isin([list, dict, np.ndarray, bytes, bytearray]).to_numpy()
        _emit(problems, raw, bad, col.name, s, lambda v: f"expected a string, got {type(v).__name__}")
        ok = ~missing & ~bad
        out = np.full(len(s), None, dtype=object)
        # integral JSON numbers used as ids/names: 7 → "7", never "7.0"
        out[ok] = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip() for v in s[ok]]
        return pd.Series(out, index=s.index, dtype=object)
    if col.type == "list":
        values = []
        bad = np.zeros(len(s), dtype=bool)
        for i, (v, m) in enumerate(zip(s.to_numpy(), missing)):
            if m:
                values.append([])
            elif isinstance(v, str):
                values.append([x.strip() for x in v.split("|") if x.strip()])
            elif isinstance(v, (list, tuple, np.ndarray)):
                values.append([str(x).strip() for x in v if x is not None and str(x).strip()])
            else:
                bad[i] = True
                values.append([])
        _emit(problems, raw, bad, col.name, s, lambda v: f"expected a list of strings (or a |-separated string), got {shown(v)}")
        return pd.Series(values, index=s.index, dtype=object)
    # numeric columns
    work = s.where(~missing, None)
    if not textual and len(s):
        nonscalar = work.map(lambda v: isinstance(v, _NOT_NUMBERS)).to_numpy(dtype=bool)
        work = work.where(~nonscalar, "<non-scalar>")
    num = _arrow_float(s) if isinstance(s.dtype, pd.StringDtype) else None
    if num is None:
        num = _to_float(work)
    kind = "an integer" if col.type == "int" else "a number"
    bad = ~missing & num.isna().to_numpy()
    _emit(problems, raw, bad, col.name, s, lambda v: f"expected {kind}, got {shown(v)}")
    if col.type == "float":
        inf = ~bad & ~missing & ~np.isfinite(num.fillna(0.0).to_numpy())
        _emit(problems, raw, inf, col.name, s, lambda v: f"expected a finite number, got {shown(v)}")
        return num.where(~inf)
    big = ~bad & ~missing & (np.abs(num.fillna(0.0).to_numpy()) > MAX_INT)  # ±inf included
    _emit(problems, raw, big, col.name, s,
          lambda v: f"integer out of range: got {shown(v)}; the limit is ±{MAX_INT:,} (2**53 - 1)")
    frac = ~bad & ~missing & ~big & (num.fillna(0.0) % 1 != 0).to_numpy()
    _emit(problems, raw, frac, col.name, s, lambda v: f"expected an integer, got {shown(v)}")
    return num.where(~(frac | big)).round().astype("Int64")


#: JSON/Parquet values a numeric column refuses even where pandas would make a number of
#: them (True → 1, a timestamp → nanoseconds)
_NOT_NUMBERS = (list, dict, np.ndarray, bool, np.bool_, bytes, bytearray, datetime.date, datetime.timedelta,
                np.datetime64, np.timedelta64)


def _to_float(s: pd.Series) -> pd.Series:
    """float64 of a JSON/Parquet column (NaN where not a number). Python ints too large for
    a float (JSON allows any length) become ±inf, so the range check reports them."""
    try:
        return pd.to_numeric(s, errors="coerce").astype("float64")
    except (OverflowError, TypeError, ValueError):
        return pd.Series([_float_or_nan(v) for v in s.tolist()], index=s.index, dtype="float64")


def _float_or_nan(v) -> float:
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        return float(v)
    except OverflowError:
        return math.copysign(math.inf, v) if isinstance(v, int) else math.nan
    except (TypeError, ValueError):
        return math.nan


#: Formats libsndfile may not open; only these fall back to audioread (ffmpeg/gstreamer).
FALLBACK_SUFFIXES = frozenset({".mp3", ".m4a", ".mp4", ".aac", ".wma", ".webm", ".opus"})


def _arrow_float(s: pd.Series) -> pd.Series | None:
    """float64 of an Arrow-string column via pyarrow's cast (~5x ``pd.to_numeric``), or None
    when some value does not parse (the caller then finds and reports those values)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        values = pc.cast(pa.array(s), pa.float64()).to_numpy(zero_copy_only=False)  # nulls → NaN
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None
    return pd.Series(values, index=s.index, dtype="float64")


def check_audio(path: Path) -> str | None:
    """None if ``path`` is a decodable audio file, else the reason. Reads the header with
    soundfile; for compressed formats libsndfile cannot open (``FALLBACK_SUFFIXES``, e.g.
    some mp3/m4a) it falls back to audioread, the decoder librosa uses."""
    try:
        if not path.is_file():
            return "audio file not found"
    except OSError as err:  # e.g. a path longer than the system allows
        return f"cannot open audio file ({err.strerror or err})"
    try:
        import soundfile

        info = soundfile.info(str(path))
        return None if info.frames > 0 and info.samplerate > 0 else "audio file has no samples"
    except Exception as sf_err:  # libsndfile failed: try the slower decoder where it may help
        if path.suffix.lower() not in FALLBACK_SUFFIXES:
            return f"cannot decode audio ({str(sf_err).split(': ', 1)[-1]})"
        try:
            import audioread

            with audioread.audio_open(str(path)) as fh:
                return None if fh.duration > 0 else "audio file has no samples"
        except Exception as err:
            return f"cannot decode audio ({type(err).__name__}: {err})"


def _check_table(raw: RawTable, problems: list[Problem]) -> pd.DataFrame:
    spec = TABLES[raw.name]
    typed = {}
    for col in spec.columns:
        before = len(problems)
        typed[col.name] = _coerce(raw, col, problems)
        if col.required and col.name not in raw.missing_columns:
            missing = np.array(typed[col.name].isna().to_numpy(), dtype=bool)
            if len(problems) > before:  # values already reported as wrong-typed are not "missing" too
                missing &= ~raw.frame.index.isin([p.line for p in problems[before:]])
            _emit(problems, raw, missing, col.name, typed[col.name], lambda v: "required field is missing")
    frame = pd.DataFrame(typed, index=raw.frame.index)
    if spec.key:
        ids = frame[spec.key]
        dup = (ids.duplicated(keep="first") & ids.notna()).to_numpy()
        if dup.any():
            first = pd.Series(frame.index, index=ids).groupby(level=0).first()
            _emit(problems, raw, dup, spec.key, ids,
                  lambda v: f"duplicate id {shown(v)} (first defined on line {int(first[v])})")
    return frame


def _check_refs(raws: dict[str, RawTable], frames: dict[str, pd.DataFrame], problems: list[Problem]) -> None:
    ids = {t: frames[t]["id"].dropna() for t in ("artists", "albums", "tracks")}
    for name, spec in TABLES.items():
        for col in spec.columns:
            if not col.ref:
                continue
            target = col.ref[0]
            s = frames[name][col.name]
            dangling = (s.notna() & ~s.isin(ids[target])).to_numpy()
            _emit(problems, raws[name], dangling, col.name, s,
                  lambda v, t=target: f"unknown {t[:-1]} {shown(v)} (no such id in {raws[t].file})")
    for table in ("track_attributes", "artist_attributes"):
        kinds = frames[table]["kind"]
        codes, uniques = pd.factorize(kinds)  # lower-case each distinct kind once
        lowered = np.array([u.lower() for u in uniques] + [None], dtype=object)
        norm = pd.Series(lowered[codes], index=kinds.index, dtype=object)  # code -1 (missing) → None
        frames[table]["kind"] = norm
        bad = (norm.notna() & ~norm.isin(sorted(ATTRIBUTE_KINDS))).to_numpy()
        _emit(problems, raws[table], bad, "kind", kinds,
              lambda v: f"unknown attribute kind {shown(v)}; choose from {sorted(ATTRIBUTE_KINDS)}")
        w = frames[table]["weight"]
        neg = (w < 0).to_numpy()
        _emit(problems, raws[table], neg, "weight", w, lambda v: f"weight must be >= 0, got {v}")
    rel, raw = frames["relations"], raws["relations"]
    types = rel["type"]
    unknown = (types.notna() & ~types.isin(list(RELATION_ENDPOINTS))).to_numpy()
    _emit(problems, raw, unknown, "type", types,
          lambda v: f"unknown relationship type {shown(v)}; choose from {sorted(RELATION_ENDPOINTS)}")
    for rtype, (src_label, dst_label) in RELATION_ENDPOINTS.items():
        sel = (types == rtype).to_numpy()
        if not sel.any():
            continue
        for end, label in (("src", src_label), ("dst", dst_label)):
            s = rel[end]
            known = ids[LABEL_TABLE[label]]
            bad = sel & (s.notna() & ~s.isin(known)).to_numpy()
            fname = raws[LABEL_TABLE[label]].file
            _emit(problems, raw, bad, end, s,
                  lambda v, lb=label, rt=rtype, e=end, f=fname, a=src_label, b=dst_label:
                  f"unknown {lb.lower()} {shown(v)} ({rt} goes {a} -> {b}; {e} is not an id in {f})")
        if rtype == "BY":
            role = rel["role"]
            no_role = sel & role.isna().to_numpy()
            _emit(problems, raw, no_role, "role", role,
                  lambda v: f"a BY relation needs a role; choose from {sorted(BY_ROLES)}")
            bad_role = sel & (role.notna() & ~role.isin(sorted(BY_ROLES))).to_numpy()
            _emit(problems, raw, bad_role, "role", role,
                  lambda v: f"unknown role {shown(v)}; choose from {sorted(BY_ROLES)}")
    w = rel["weight"]
    _emit(problems, raw, (w < 0).to_numpy(), "weight", w, lambda v: f"weight must be >= 0, got {v}")
    tracks = frames["tracks"]
    dur = tracks["duration_s"]
    _emit(problems, raws["tracks"], (dur <= 0).to_numpy(), "duration_s", dur,
          lambda v: f"duration must be positive, got {v}")


#: a Windows drive or UNC prefix: absolute on the machine the catalog was written on
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:|[\\/]{2})")


class AudioPaths:
    """Where a catalog's ``audio_path`` values point, confined to the catalog directory.

    :meth:`locate` returns the resolved file inside ``root`` or the reason it is refused:
    not valid text, over ``MAX_PATH_BYTES`` / a component over ``MAX_NAME_BYTES``, absolute,
    or resolving outside ``root`` (``..`` or a symlink, in any component). Resolution reads
    only directory entries and links (``lstat``/``readlink``); nothing is opened. Parent
    directories are resolved once each, so 10^5 tracks under ``audio/`` cost one ``lstat``
    per file.

    >>> AudioPaths(Path("/srv/catalog")).locate("../../etc/passwd")[1]  # doctest: +SKIP
    "points outside the catalog directory: '../../etc/passwd'"
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        self._dirs: dict[PurePosixPath, Path] = {}

    def _inside(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def locate(self, value: str) -> tuple[Path | None, str | None]:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            return None, f"audio_path is not valid Unicode text: {shown(value)}"
        if "\x00" in value:
            return None, f"audio_path contains a NUL character: {shown(value)}"
        if size > MAX_PATH_BYTES:
            return None, f"audio_path is {size} bytes long; the limit is {MAX_PATH_BYTES}: {shown(value)}"
        rel = PurePosixPath(value)
        long = next((p for p in rel.parts if len(p.encode("utf-8")) > MAX_NAME_BYTES), None)
        if long is not None:
            return None, (f"audio_path has a component of {len(long.encode('utf-8'))} bytes; "
                          f"the limit is {MAX_NAME_BYTES}: {shown(value)}")
        if rel.is_absolute() or _WINDOWS_ABSOLUTE.match(value):
            return None, f"audio_path must be relative to the catalog directory, got an absolute path: {shown(value)}"
        try:
            parent = self._dirs.get(rel.parent)
            if parent is None:
                parent = self._dirs[rel.parent] = Path(os.path.realpath(self.root / rel.parent))
            if not self._inside(parent):
                return None, f"audio_path points outside the catalog directory: {shown(value)}"
            target = parent / rel.name if rel.name not in ("", ".", "..") else Path(os.path.realpath(parent / rel.name))
            if target.is_symlink():
                target = Path(os.path.realpath(target))
                if not self._inside(target):
                    return None, f"audio_path is a symlink to a file outside the catalog directory: {shown(value)}"
            if not self._inside(target):
                return None, f"audio_path points outside the catalog directory: {shown(value)}"
        except (OSError, RuntimeError, ValueError) as err:  # symlink loops, over-long resolved paths
            return None, f"audio_path cannot be resolved ({err}): {shown(value)}"
        return target, None


def _check_audio_paths(root: Path, raw: RawTable, tracks: pd.DataFrame, problems: list[Problem],
                       decode: bool, progress: bool) -> None:
    """Confine every distinct ``audio_path`` to the catalog directory (always) and, with
    ``decode``, read the header of each, in a few threads (the work is file I/O and
    libsndfile, which runs without the GIL). A path refused by :class:`AudioPaths` is
    never opened."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    paths = tracks["audio_path"]
    unique = list(paths.dropna().unique())
    if not unique:
        return
    where = AudioPaths(root)
    verdicts: dict[str, str | None] = {}
    inside: dict[str, Path] = {}
    for value in unique:
        target, why = where.locate(value)
        if why is not None:
            verdicts[value] = why
        else:
            inside[value] = target
    if decode and inside:
        values = list(inside)
        with ThreadPoolExecutor(max_workers=min(8, len(values))) as pool:
            found = tqdm(pool.map(lambda v: check_audio(inside[v]), values), total=len(values),
                         desc="audio", unit="file", disable=not progress, leave=False)
            verdicts.update((v, None if r is None else f"{r}: {shown(v)}") for v, r in zip(values, found))
    reason = paths.map(lambda p: verdicts.get(p) if p is not None else None)
    bad = reason.notna().to_numpy()
    _emit(problems, raw, bad, "audio_path", reason.tolist(), lambda v: v)


def validate_catalog(
    path: str | os.PathLike, *, check_audio_files: bool = True, progress: bool = False
) -> tuple[Catalog, ValidationReport]:
    """Read and check the catalog at ``path``; returns the typed catalog and every problem.

    The catalog is returned even when invalid (bad values become missing) so that
    ``--skip-invalid`` can load the good rows. Every ``audio_path`` must resolve inside the
    catalog directory (see :class:`AudioPaths`; always checked, nothing outside is opened);
    ``check_audio_files=False`` skips decoding audio headers (default: check them); ``progress=True`` shows a bar while checking audio
    (default off). Raises
    :class:`~kgjemb.errors.CatalogError` only if ``path`` is not a directory.

    >>> catalog, report = validate_catalog("graph/fixtures/defects")
    >>> str(report.errors[0])
    "albums.csv:3 [artist_id]: unknown artist 'ghost' (no such id in artists.csv)"
    """
    root = Path(path).expanduser().resolve()
    raws, problems = read_raw_tables(root)
    for raw in raws.values():
        problems.extend(raw.problems)
    frames = {name: _check_table(raw, problems) for name, raw in raws.items()}
    _check_refs(raws, frames, problems)
    _check_audio_paths(root, raws["tracks"], frames["tracks"], problems, check_audio_files, progress)
    report = ValidationReport(problems=problems).sorted()
    catalog = Catalog(root=root, tables=frames, files={n: r.file for n, r in raws.items()}, valid=report.valid)
    logger.info("validated %s: %d rows, %d error(s), %d warning(s)", root, len(catalog),
                len(report.errors), len(report.warnings))
    return catalog, report

