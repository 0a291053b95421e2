"""Build the demo catalog: music21 public-domain scores rendered with fluidsynth.

``build_catalog(out, BuildConfig(...))`` discovers works, renders them (in parallel with
``jobs`` > 1; a content cache makes re-runs render only what is missing), writes the
catalog tables of ``kgjemb.catalog.schema`` plus ``meta/renditions.csv`` (the ground truth
of every rendition), ``meta/licences.json``, ``manifest.json`` (arguments, counts, code
version) and finally an empty ``READY`` file. The whole catalog is assembled in a sibling
temp dir and swapped into place, so readers never see half a catalog. A complete build
with the same arguments and code is a fast no-op.

>>> from kgjemb.demo.builder import BuildConfig, build_catalog
>>> manifest = build_catalog("data/dev-catalog", BuildConfig(limit=6, seconds=10))  # doctest: +SKIP
>>> manifest["counts"]["tracks"]  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path

from kgjemb.atomic import atomic_dir, remove_leftovers
from kgjemb.demo.corpus import Work, discover
from kgjemb.demo.render import RENDERER_VERSION, check_dependencies, release_synths
from kgjemb.demo.renditions import WorkResult, process_work
from kgjemb.demo.sources import DEFAULT_COLLECTIONS, Collection, resolve_collection
from kgjemb.demo.tables import build_tables, table_columns, write_csv

__all__ = ["BuildConfig", "build_catalog", "build_lock", "code_version", "is_complete", "read_renditions"]

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class BuildConfig:
    """Arguments of a build.

    ``limit``: works per collection (None: each collection's default cap — 300 Bach
    chorales, 300 Palestrina sections, 300 tunes of each fiddle-tune book, all of the rest;
    0: every work). ``seconds``: excerpt length (default 20). ``jobs``: parallel renderer
    processes. ``seed``: arrangement seed. ``version_rate``: share of works that get a
    second rendition (VERSION_OF). ``cache_dir``: render cache (default
    ``<out>/../.render-cache``). ``progress``: tqdm bar.
    """

    collections: tuple[str, ...] = DEFAULT_COLLECTIONS
    limit: int | None = None
    seconds: float = 20.0
    jobs: int = 1
    seed: int = 0
    version_rate: float = 0.2
    cache_dir: str | None = None
    progress: bool = True

    def identity(self) -> dict:
        """The arguments that determine the output (not jobs/progress/cache location)."""
        return {"collections": list(self.collections), "limit": self.limit, "seconds": float(self.seconds),
                "seed": self.seed, "version_rate": self.version_rate}


def code_version() -> str:
    """sha256 (16 hex) of the demo builder's source files and data, plus the renderer version."""
    h = hashlib.sha256(RENDERER_VERSION.encode())
    pkg = resources.files("kgjemb.demo")
    for name in sorted(p.name for p in pkg.iterdir() if p.name.endswith(".py")):
        h.update(name.encode() + pkg.joinpath(name).read_bytes())
    data = pkg.joinpath("data")
    for name in sorted(p.name for p in data.iterdir() if p.name.endswith((".csv", ".json"))):
        h.update(name.encode() + data.joinpath(name).read_bytes())
    return h.hexdigest()[:16]


def is_complete(out: str | os.PathLike, cfg: BuildConfig | None = None, *, same_code: bool = False) -> bool:
    """True when ``out`` holds a finished build (READY present) of ``cfg``'s arguments
    (and, with ``same_code``, of this very builder code: see :func:`code_version`)."""
    out = Path(out)
    if not (out / "READY").exists() or not (out / "manifest.json").exists():
        return False
    if cfg is None:
        return True
    try:
        man = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if man.get("format") != MANIFEST_FORMAT or man.get("args") != cfg.identity():
        return False
    return not same_code or man.get("code_version") == code_version()


def _validate_cfg(cfg: BuildConfig) -> list[Collection]:
    if cfg.seconds <= 1:
        raise ValueError(f"seconds must be > 1, got {cfg.seconds}")
    if cfg.jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {cfg.jobs}")
    if cfg.limit is not None and cfg.limit < 0:
        raise ValueError(f"limit must be >= 0, got {cfg.limit}")
    if not 0 <= cfg.version_rate <= 1:
        raise ValueError(f"version_rate must be in [0, 1], got {cfg.version_rate}")
    colls = [resolve_collection(c) for c in cfg.collections]
    if not colls:
        raise ValueError("no collections given")
    return list({c.key: c for c in colls}.values())


def _run(works: list[Work], cfg: BuildConfig, work_dir: Path, cache_dir: Path) -> list[WorkResult]:
    fn = partial(process_work, out_dir=str(work_dir), cache_dir=str(cache_dir), seconds=float(cfg.seconds),
                 seed=cfg.seed, version_rate=cfg.version_rate)
    from tqdm import tqdm

    bar = tqdm(total=len(works), desc="rendering", unit="work", disable=not cfg.progress)
    results: list[WorkResult] = []
    try:
        if cfg.jobs == 1:
            try:
                for w in works:
                    results.append(fn(w))
                    bar.update(1)
            finally:
                release_synths()  # this process goes on (graph load, training): free the soundfont
        else:
            # Each worker loads the soundfont once, on its first render. Workers are spawned,
            # not forked: libfluidsynth loads soundfonts with OpenMP, and a child forked from
            # a process whose OpenMP threads exist (one that rendered before) hangs in them.
            with ProcessPoolExecutor(max_workers=cfg.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                for r in pool.map(fn, works, chunksize=4):
                    results.append(r)
                    bar.update(1)
    finally:
        bar.close()
    return results


def _write_meta(tmp: Path, results: list[WorkResult], colls: list[Collection], cfg: BuildConfig) -> None:
    meta = tmp / "meta"
    meta.mkdir(exist_ok=True)
    cols = ("track_id", "work_id", "collection", "score_path", "tune_number", "arrangement", "part_names",
            "programs", "instruments", "bpm", "beat_bpm", "tempo_band", "seconds", "audio_sha256", "cache_key")
    rows = []
    for r in sorted(results, key=lambda r: r.work.work_id):
        for rend in r.renditions:
            rows.append({"track_id": rend.track_id, "work_id": r.work.work_id, "collection": r.work.collection,
                         "score_path": r.work.path, "tune_number": r.work.number, "arrangement": rend.label,
                         "part_names": "|".join(r.part_names), "programs": "|".join(map(str, rend.programs)),
                         "instruments": "|".join(rend.instruments), "bpm": rend.bpm, "beat_bpm": rend.beat_bpm,
                         "tempo_band": rend.tempo_band, "seconds": float(cfg.seconds),
                         "audio_sha256": rend.audio_sha256, "cache_key": rend.cache_key})
    write_csv(meta / "renditions.csv", cols, sorted(rows, key=lambda r: r["track_id"]))
    licences = {c.key: {"title": c.title, "licence": c.licence, "note": c.licence_note,
                        "commercial_use": c.commercial} for c in sorted(colls, key=lambda c: c.key)}
    (meta / "licences.json").write_text(json.dumps(licences, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    (tmp / "README.md").write_text(_readme(colls), encoding="utf-8")


def _readme(colls: list[Collection]) -> str:
    """Notes shipped with every build: what it is, and each collection's licence."""
    from kgjemb.demo.sources import COLLECTIONS

    lines = [
        "# kgjemb demo catalog", "",
        "Excerpts of public-domain works from the music21 corpus, rendered with fluidsynth and the",
        "FluidR3 GM soundfont (22.05 kHz mono FLAC). Built by `scripts/build_demo_catalog.py`;",
        "`meta/renditions.csv` records the GM programs, tempo and source score of every track.", "",
        "## Licences (collection: licence — source of the statement)", "",
    ]
    lines += [f"- {c.key}: {c.licence} — {c.licence_note}" for c in sorted(colls, key=lambda c: c.key)]
    excluded = [c for c in COLLECTIONS.values() if not c.commercial]
    lines += ["", "Left out of the default build because their encodings are licensed for non-commercial",
              "use only: " + ", ".join(f"{c.key} ({c.licence_note})" for c in excluded) + ".", ""]
    return "\n".join(lines)


def build_catalog(out: str | os.PathLike, cfg: BuildConfig = BuildConfig(), *, force: bool = False) -> dict:
    """Build the catalog into ``out`` and return its manifest (see module docs).

    A finished build of the same arguments is reused as is (``force=True`` rebuilds, e.g.
    after changing the builder; unchanged renditions still come from the render cache).

    Raises ``MissingDependencyError`` when fluidsynth or the FluidR3 soundfont is missing and
    ``ValueError`` for bad arguments (unknown collections list the valid choices).
    """
    out = Path(out).resolve()
    colls = _validate_cfg(cfg)
    if not force and is_complete(out, cfg):
        logger.info("%s is complete for these arguments; nothing to do", out)
        return json.loads((out / "manifest.json").read_text())
    check_dependencies()
    out.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(out.with_name(f".{out.name}.lock")):  # concurrent builders of one dir take turns
        if not force and is_complete(out, cfg):
            return json.loads((out / "manifest.json").read_text())
        return _build(out, cfg, colls)


@contextlib.contextmanager
def build_lock(path: Path):
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block:
    concurrent builders of one catalog folder (demo or real) take turns."""
    import fcntl

    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(out: Path, cfg: BuildConfig, colls: list[Collection]) -> dict:
    t0 = time.perf_counter()
    version = code_version()  # of the code that starts the build, not of files edited meanwhile
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else out.parent / ".render-cache"
    works = [w for c in colls for w in discover(c, limit=cfg.limit)]
    logger.info("building %s: %d works from %d collections", out, len(works), len(colls))
    remove_leftovers(out)  # what builds killed midway left
    with atomic_dir(out) as tmp:
        (tmp / "audio").mkdir()
        results = _run(works, cfg, tmp, cache_dir)
        tables = build_tables(results, colls, seconds=cfg.seconds)
        for name, rows in tables.items():
            write_csv(tmp / f"{name}.csv", table_columns(name), rows)
        _write_meta(tmp, results, colls, cfg)
        kinds = Counter(r["kind"] for r in tables["track_attributes"])
        rel_types = Counter(r["type"] for r in tables["relations"])
        skipped = sorted((r.work.work_id, r.error) for r in results if r.error)
        manifest = {
            "format": MANIFEST_FORMAT, "args": cfg.identity(), "code_version": version,
            "renderer": RENDERER_VERSION,
            "counts": {**{name: len(rows) for name, rows in tables.items()}, "works": len(works) - len(skipped),
                       "version_of": rel_types.get("VERSION_OF", 0)},
            "attribute_kinds": dict(sorted(kinds.items())), "relation_types": dict(sorted(rel_types.items())),
            "per_collection": dict(sorted(Counter(r.work.collection for r in results for _ in r.renditions).items())),
            "licences": {c.key: c.licence for c in sorted(colls, key=lambda c: c.key)},
            "rendered": sum(r.rendered for r in results), "skipped": [list(s) for s in skipped],
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        (tmp / "READY").write_text("")  # written last: readers wait for it
    logger.info("built %s in %.1fs: %s", out, time.perf_counter() - t0, manifest["counts"])
    return manifest


def read_renditions(catalog: str | os.PathLike) -> list[dict]:
    """Rows of ``meta/renditions.csv`` (programs/instruments as lists, bpm as float)."""
    with open(Path(catalog) / "meta" / "renditions.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["programs"] = [int(p) for p in r["programs"].split("|")]
        r["instruments"] = r["instruments"].split("|")
        r["bpm"] = float(r["bpm"])
    return rows

