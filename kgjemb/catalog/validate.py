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

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kgjemb.catalog.problems import Problem, ValidationReport
from kgjemb.catalog.reader import RawTable, read_raw_tables
from kgjemb.catalog.schema import ATTRIBUTE_KINDS, BY_ROLES, RELATION_ENDPOINTS, TABLES, Column

__all__ = ["Catalog", "validate_catalog", "check_audio"]

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
        bad = ~missing & kinds.isin([list, dict, np.ndarray]).to_numpy()
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
        _emit(problems, raw, bad, col.name, s, lambda v: f"expected a list of strings (or a |-separated string), got {v!r}")
        return pd.Series(values, index=s.index, dtype=object)
    # numeric columns
    work = s.where(~missing, None)
    if not textual and len(s):
        nonscalar = work.map(lambda v: isinstance(v, (list, dict, np.ndarray, bool))).to_numpy(dtype=bool)
        work = work.where(~nonscalar, "<non-scalar>")
    num = _arrow_float(s) if isinstance(s.dtype, pd.StringDtype) else None
    if num is None:
        num = pd.to_numeric(work, errors="coerce").astype("float64")
    kind = "an integer" if col.type == "int" else "a number"
    bad = ~missing & num.isna().to_numpy()
    _emit(problems, raw, bad, col.name, s, lambda v: f"expected {kind}, got {v!r}")
    if col.type == "float":
        inf = ~bad & ~missing & ~np.isfinite(num.fillna(0.0).to_numpy())
        _emit(problems, raw, inf, col.name, s, lambda v: f"expected a finite number, got {v!r}")
        return num.where(~inf)
    frac = ~bad & ~missing & (num.fillna(0.0) % 1 != 0).to_numpy()
    _emit(problems, raw, frac, col.name, s, lambda v: f"expected an integer, got {v!r}")
    return num.where(~frac).round().astype("Int64")


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
    if not path.is_file():
        return "audio file not found"
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
                  lambda v: f"duplicate id {v!r} (first defined on line {int(first[v])})")
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
                  lambda v, t=target: f"unknown {t[:-1]} {v!r} (no such id in {raws[t].file})")
    for table in ("track_attributes", "artist_attributes"):
        kinds = frames[table]["kind"]
        codes, uniques = pd.factorize(kinds)  # lower-case each distinct kind once
        lowered = np.array([u.lower() for u in uniques] + [None], dtype=object)
        norm = pd.Series(lowered[codes], index=kinds.index, dtype=object)  # code -1 (missing) → None
        frames[table]["kind"] = norm
        bad = (norm.notna() & ~norm.isin(sorted(ATTRIBUTE_KINDS))).to_numpy()
        _emit(problems, raws[table], bad, "kind", kinds,
              lambda v: f"unknown attribute kind {v!r}; choose from {sorted(ATTRIBUTE_KINDS)}")
        w = frames[table]["weight"]
        neg = (w < 0).to_numpy()
        _emit(problems, raws[table], neg, "weight", w, lambda v: f"weight must be >= 0, got {v}")
    rel, raw = frames["relations"], raws["relations"]
    types = rel["type"]
    unknown = (types.notna() & ~types.isin(list(RELATION_ENDPOINTS))).to_numpy()
    _emit(problems, raw, unknown, "type", types,
          lambda v: f"unknown relationship type {v!r}; choose from {sorted(RELATION_ENDPOINTS)}")
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
                  f"unknown {lb.lower()} {v!r} ({rt} goes {a} -> {b}; {e} is not an id in {f})")
        if rtype == "BY":
            role = rel["role"]
            no_role = sel & role.isna().to_numpy()
            _emit(problems, raw, no_role, "role", role,
                  lambda v: f"a BY relation needs a role; choose from {sorted(BY_ROLES)}")
            bad_role = sel & (role.notna() & ~role.isin(sorted(BY_ROLES))).to_numpy()
            _emit(problems, raw, bad_role, "role", role,
                  lambda v: f"unknown role {v!r}; choose from {sorted(BY_ROLES)}")
    w = rel["weight"]
    _emit(problems, raw, (w < 0).to_numpy(), "weight", w, lambda v: f"weight must be >= 0, got {v}")
    tracks = frames["tracks"]
    dur = tracks["duration_s"]
    _emit(problems, raws["tracks"], (dur <= 0).to_numpy(), "duration_s", dur,
          lambda v: f"duration must be positive, got {v}")


def _check_audio_paths(root: Path, raw: RawTable, tracks: pd.DataFrame, problems: list[Problem],
                       progress: bool) -> None:
    """Decode the header of every distinct audio file, in a few threads (the work is file
    I/O and libsndfile, which runs without the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    paths = tracks["audio_path"]
    unique = list(paths.dropna().unique())
    if not unique:
        return
    with ThreadPoolExecutor(max_workers=min(8, len(unique))) as pool:
        verdicts = dict(zip(unique, tqdm(pool.map(lambda p: check_audio(root / p), unique), total=len(unique),
                                         desc="audio", unit="file", disable=not progress, leave=False)))
    reason = paths.map(lambda p: verdicts.get(p) if p is not None else None)
    bad = reason.notna().to_numpy()
    _emit(problems, raw, bad, "audio_path", list(zip(paths, reason)), lambda v: f"{v[1]}: {v[0]}")


def validate_catalog(
    path: str | os.PathLike, *, check_audio_files: bool = True, progress: bool = False
) -> tuple[Catalog, ValidationReport]:
    """Read and check the catalog at ``path``; returns the typed catalog and every problem.

    The catalog is returned even when invalid (bad values become missing) so that
    ``--skip-invalid`` can load the good rows. ``check_audio_files=False`` skips decoding
    audio headers (default: check them); ``progress=True`` shows a bar while checking audio
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
    if check_audio_files:
        _check_audio_paths(root, raws["tracks"], frames["tracks"], problems, progress)
    report = ValidationReport(problems=problems).sorted()
    catalog = Catalog(root=root, tables=frames, files={n: r.file for n, r in raws.items()}, valid=report.valid)
    logger.info("validated %s: %d rows, %d error(s), %d warning(s)", root, len(catalog),
                len(report.errors), len(report.warnings))
    return catalog, report

