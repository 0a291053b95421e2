"""Build a catalog of real recorded music from Debian game-data packages.

``build_real_catalog(out, RealConfig(...))`` downloads each package with ``apt-get
download`` (nothing is installed), unpacks only its music folders and its copyright file
(``dpkg-deb --fsys-tarfile`` read as a tar stream), keeps the audio files under a folder
named ``music``/``musics`` that last at least ``min_seconds`` (jingles, stingers and sound
effects are shorter or live elsewhere; MIDI and tracker modules are not audio we read),
copies them byte for byte into ``<out>/audio/<package>/`` and writes the tables of
:mod:`kgjemb.catalog.schema`:

* albums: one soundtrack per game, or the albums a package declares (``album.json``);
* artists: the composers as credited (see :mod:`kgjemb.demo.real_sources` for the order:
  credit files, copyright text, tags, the copyright holder of a music-only stanza);
  music nobody is credited for goes to ``<Game> team``, the holder of the package's
  catch-all copyright stanza (``meta/tracks.csv`` says ``credit=team`` for those);
* track attributes only where the package states them: ``licence`` (DEP-5 stanza or
  album licence), ``genre`` (tag), ``collection`` (the game).

Downloads and unpacked files are cached under ``cache_dir`` (re-runs reuse them); the
catalog is assembled in a temp folder and swapped into place with ``READY`` written last,
like the demo builder; a finished build of the same arguments is a no-op.

>>> manifest = build_real_catalog("data/real-catalog", RealConfig(packages=("xmoto-data",)))  # doctest: +SKIP
>>> manifest["counts"]["tracks"]  # doctest: +SKIP
6
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kgjemb.atomic import atomic_dir, remove_leftovers
from kgjemb.demo.builder import build_lock
from kgjemb.demo.real_fetch import PackageError, deb_version, fetch_deb, music_files, unpack
from kgjemb.demo.real_sources import DEFAULT_PACKAGES, PACKAGES, Credit, Dep5, Package, sidecar_credits
from kgjemb.demo.sources import slug
from kgjemb.demo.tables import table_columns, write_csv
from kgjemb.errors import MissingDependencyError

__all__ = ["RealConfig", "build_real_catalog", "AUDIO_SUFFIXES", "audio_tags", "finished_manifest"]

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
#: audio kept (what kgjemb.audio.io decodes); MIDI/tracker modules (.mid, .mod, .xm, .it, .s3m) are not
AUDIO_SUFFIXES = (".ogg", ".oga", ".opus", ".flac", ".mp3", ".wav")
_JUNK_TAG = {"", "???", "unknown"}


@dataclass(frozen=True)
class RealConfig:
    """Arguments of a build. ``packages``: Debian package names (default
    :data:`DEFAULT_PACKAGES`); ``min_seconds``: shorter files are jingles or effects and
    are left out (default 30); ``cache_dir``: downloads and unpacked files (default
    ``<out>/../.real-cache``); ``progress``: tqdm bar."""

    packages: tuple[str, ...] = DEFAULT_PACKAGES
    min_seconds: float = 30.0
    cache_dir: str | None = None
    progress: bool = True

    def identity(self) -> dict:
        return {"packages": sorted(self.packages), "min_seconds": float(self.min_seconds)}


def _check(cfg: RealConfig) -> list[Package]:
    unknown = sorted(set(cfg.packages) - set(PACKAGES))
    if unknown:
        raise ValueError(f"unknown packages {unknown}; choose from {sorted(PACKAGES)}")
    if not cfg.packages:
        raise ValueError("no packages given")
    if cfg.min_seconds < 0:
        raise ValueError(f"min_seconds must be >= 0, got {cfg.min_seconds}")
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise MissingDependencyError(f"{tool} not found: the real catalog is built from Debian packages")
    return [PACKAGES[p] for p in sorted(set(cfg.packages))]


# -- reading what the package states -----------------------------------------------------------

def audio_tags(path: Path) -> tuple[dict[str, str], float]:
    """(lower-cased tags with junk values dropped, duration in seconds) of an audio file."""
    import mutagen

    f = mutagen.File(path)
    if f is None:
        raise PackageError(f"cannot read tags of {path}")
    tags = {}
    for k, v in (f.tags or {}).items():
        v = v[0] if isinstance(v, list) and v else v
        if isinstance(v, str) and v.strip() not in _JUNK_TAG:
            tags[k.lower()] = v.strip()
    return tags, float(f.info.length)


def _person(name: str, pkg: Package) -> tuple[str, str | None]:
    """(credited name, alias): strips e-mail/url, splits ``X aka Y`` and ``X (alias)``."""
    name = re.sub(r"\s*<[^>]*>", "", name).strip()
    for tagged, credited in pkg.aliases:
        if name.lower() == tagged.lower():
            return credited, tagged
    m = re.match(r"^(.*?)\s+aka\s+(.+)$", name, re.IGNORECASE) or re.match(r"^(.*?)\s*\(([^)]+)\)$", name)
    return (m.group(1).strip(), m.group(2).strip()) if m else (name, None)


def _credit(rel: str, path: Path, tags: dict, side: Credit | None, stanza, pkg: Package) -> tuple[str | None, str]:
    """(composer, where the credit comes from) in the documented order."""
    if side and side.composer:
        return side.composer, side.source
    for pattern, who, _note in pkg.credits:
        if fnmatch.fnmatchcase(rel, pattern):
            return who, "copyright text"
    for key in ("composer", "artist"):
        v = tags.get(key, "")
        if v and not re.match(r"^(https?://|www\.)", v):
            return v, f"tag {key}"
    m = re.match(r"^\d+\s+-\s+(.+?)\s+-\s+.+$", path.stem)  # "01 - Artist - Title"
    if m:
        return m.group(1), "file name"
    if stanza is not None and not stanza.catch_all and stanza.copyright:
        return re.sub(r"^[\d\s,-]+", "", stanza.copyright[0]).strip(), "copyright stanza"
    return None, "team"


def _title(path: Path, tags: dict, side: Credit | None) -> str:
    if side and side.title:
        return side.title
    if tags.get("title"):
        return tags["title"]
    stem = re.sub(r"^\d+\s+-\s+.+?\s+-\s+", "", path.stem)
    return " ".join(w.capitalize() for w in re.split(r"[_\s]+", stem) if w)


def _scan(pkg: Package, root: Path, min_seconds: float) -> list[dict]:
    """One record per kept music file of an unpacked package, sorted by path."""
    doc = root / "usr" / "share" / "doc" / pkg.name / "copyright"
    dep5 = Dep5.parse(doc.read_text(encoding="utf-8", errors="replace")) if doc.is_file() else Dep5()
    files = music_files(root, AUDIO_SUFFIXES)
    sides = sidecar_credits(files)
    src_root = root / pkg.source_root
    out = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        tags, seconds = audio_tags(p)
        if seconds < min_seconds:
            continue
        src = pkg.source_prefix + p.relative_to(src_root).as_posix() if p.is_relative_to(src_root) else rel
        stanza = dep5.match(src)
        side = sides.get(p)
        composer, credit = _credit(rel, p, tags, side, stanza, pkg)
        if side and side.licence:
            licence, lic_source = side.licence, side.source
        elif stanza is not None:
            licence, lic_source = stanza.licence, f"copyright Files: {' '.join(stanza.files)}"
        elif pkg.licence:
            licence, lic_source = pkg.licence, pkg.licence_note
        else:
            raise PackageError(f"{pkg.name}: no licence stated for {rel}")
        out.append({"path": p, "rel": rel, "seconds": seconds, "tags": tags, "composer": composer,
                    "credit": credit, "licence": licence, "licence_source": lic_source,
                    "album": side.album if side and side.album else None,
                    "year": (side.year if side else None) or _year(tags.get("date")),
                    "title": _title(p, tags, side)})
    return out


def _year(text) -> int | None:
    m = re.search(r"\b(19[5-9]\d|20\d\d)\b", str(text or ""))
    return int(m.group(1)) if m else None


# -- tables -------------------------------------------------------------------------------------

def _genre(tags: dict, pkg: Package) -> str | None:
    g = tags.get("genre", "").strip().lower()
    return None if not g or g in _JUNK_TAG or g == pkg.game.lower() else g


def build_tables(scanned: dict[str, list[dict]]) -> tuple[dict[str, list[dict]], list[dict]]:
    """Catalog tables (sorted rows) and the ``meta/tracks.csv`` rows from the scanned
    records of each package (``{package: records}``)."""
    artists: dict[str, dict] = {}
    albums: dict[str, dict] = {}
    tracks, attrs, meta = [], [], []
    seen: Counter = Counter()
    for name in sorted(scanned):
        pkg = PACKAGES[name]
        for r in scanned[name]:
            who = r["composer"] or f"{pkg.game} team"
            person, alias = _person(who, pkg)
            aid = slug(person)
            art = artists.setdefault(aid, {"id": aid, "name": person, "aliases": set()})
            if alias and alias.lower() != person.lower():
                art["aliases"].add(alias)
            album_title = r["album"] or f"{pkg.game} soundtrack"
            alb_id = slug(album_title if r["album"] else f"{pkg.game}-soundtrack")
            alb = albums.setdefault(alb_id, {"id": alb_id, "title": album_title, "year": None, "composers": set()})
            alb["composers"].add(aid)
            if r["album"] and r["year"]:
                alb["year"] = r["year"]
            tid = f"{slug(pkg.game)}-{slug(Path(r['rel']).with_suffix('').name)}"
            seen[tid] += 1
            tid = tid if seen[tid] == 1 else f"{tid}-{seen[tid]}"  # same file name in two folders
            audio = f"audio/{name}/{tid}{r['path'].suffix.lower()}"
            tracks.append({"id": tid, "title": r["title"], "artist_id": aid, "album_id": alb_id,
                           "duration_s": round(r["seconds"], 3), "year": r["year"], "audio_path": audio})
            attrs.append({"track_id": tid, "kind": "licence", "value": r["licence"], "weight": 1.0})
            attrs.append({"track_id": tid, "kind": "collection", "value": pkg.game, "weight": 1.0})
            if _genre(r["tags"], pkg):
                attrs.append({"track_id": tid, "kind": "genre", "value": _genre(r["tags"], pkg), "weight": 1.0})
            meta.append({"track_id": tid, "package": name, "source_path": r["rel"], "credit": r["credit"],
                         "licence": r["licence"], "licence_source": r["licence_source"],
                         "seconds": round(r["seconds"], 3), "src": r["path"]})
    album_rows = [{"id": a["id"], "title": a["title"], "year": a["year"],
                   "artist_id": next(iter(a["composers"])) if len(a["composers"]) == 1 else None}
                  for a in albums.values()]
    artist_rows = [{**a, "aliases": "|".join(sorted(a["aliases"]))} for a in artists.values()]
    tables = {
        "artists": sorted(artist_rows, key=lambda r: r["id"]),
        "albums": sorted(album_rows, key=lambda r: r["id"]),
        "tracks": sorted(tracks, key=lambda r: r["id"]),
        "track_attributes": sorted(attrs, key=lambda r: (r["track_id"], r["kind"], r["value"])),
    }
    return tables, sorted(meta, key=lambda r: r["track_id"])


# -- build ----------------------------------------------------------------------------------------

def finished_manifest(out: str | os.PathLike, args: dict) -> dict | None:
    """The manifest of a finished build (READY) in ``out`` made with ``args``, else None."""
    out = Path(out)
    try:
        man = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    ok = (out / "READY").exists() and man.get("format") == MANIFEST_FORMAT and man.get("args") == args
    return man if ok else None


def is_complete(out: str | os.PathLike, cfg: RealConfig) -> bool:
    """True when ``out`` holds a finished build (READY) of ``cfg``'s arguments."""
    return finished_manifest(out, cfg.identity()) is not None


def build_real_catalog(out: str | os.PathLike, cfg: RealConfig = RealConfig(), *, force: bool = False) -> dict:
    """Build the catalog into ``out`` and return its manifest (see the module docstring).

    Raises ``ValueError`` for unknown packages, ``MissingDependencyError`` without
    apt-get/dpkg-deb, :class:`PackageError` when a download or unpack fails.
    """
    out = Path(out).resolve()
    pkgs = _check(cfg)
    if not force and is_complete(out, cfg):
        logger.info("%s is complete for these arguments; nothing to do", out)
        return json.loads((out / "manifest.json").read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(out.with_name(f".{out.name}.lock")):
        if not force and is_complete(out, cfg):
            return json.loads((out / "manifest.json").read_text())
        return _build(out, cfg, pkgs)


def _build(out: Path, cfg: RealConfig, pkgs: list[Package]) -> dict:
    from tqdm import tqdm

    cache = Path(cfg.cache_dir) if cfg.cache_dir else out.parent / ".real-cache"
    timings = Counter()
    scanned, versions = {}, {}
    for pkg in tqdm(pkgs, desc="packages", unit="pkg", disable=not cfg.progress):
        t0 = time.perf_counter()
        deb = fetch_deb(pkg.name, cache / "debs")
        t1 = time.perf_counter()
        root = unpack(deb, cache / "unpacked")
        t2 = time.perf_counter()
        scanned[pkg.name] = _scan(pkg, root, cfg.min_seconds)
        versions[pkg.name] = deb_version(deb)
        timings["download_s"] += t1 - t0
        timings["unpack_s"] += t2 - t1
        timings["scan_s"] += time.perf_counter() - t2
        logger.info("%s %s: %d music files", pkg.name, versions[pkg.name], len(scanned[pkg.name]))
    tables, meta = build_tables(scanned)
    remove_leftovers(out)  # what builds killed midway left
    with atomic_dir(out) as tmp:
        (tmp / "meta").mkdir()
        t0 = time.perf_counter()
        n_bytes = 0
        for r in meta:
            track = next(t for t in tables["tracks"] if t["id"] == r["track_id"])
            dest = tmp / track["audio_path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r.pop("src"), dest)
            n_bytes += dest.stat().st_size
        timings["copy_s"] = time.perf_counter() - t0
        for name, rows in tables.items():
            write_csv(tmp / f"{name}.csv", table_columns(name), rows)
        write_csv(tmp / "meta" / "tracks.csv", list(meta[0]) if meta else ["track_id"], meta)
        licences = _licences(pkgs, meta, versions)
        (tmp / "meta" / "licences.json").write_text(json.dumps(licences, indent=2, sort_keys=True) + "\n")
        (tmp / "README.md").write_text(_readme(licences), encoding="utf-8")
        manifest = {
            "format": MANIFEST_FORMAT, "args": cfg.identity(), "versions": versions,
            "counts": {**{k: len(v) for k, v in tables.items()},
                       "minutes": round(sum(t["duration_s"] for t in tables["tracks"]) / 60, 1),
                       "audio_mb": round(n_bytes / 2**20, 1)},
            "per_package": {k: len(v) for k, v in sorted(scanned.items())},
            "credits": dict(sorted(Counter(r["credit"] for r in meta).items())),
            "licences": dict(sorted(Counter(r["licence"] for r in meta).items())),
            "timings_s": {k: round(v, 1) for k, v in sorted(timings.items())},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        (tmp / "READY").write_text("")
    logger.info("built %s: %s", out, manifest["counts"])
    return manifest


def _licences(pkgs: list[Package], meta: list[dict], versions: dict) -> dict:
    """Per package: version, the licences of its kept tracks and where each is stated."""
    out = {}
    for pkg in pkgs:
        rows = [r for r in meta if r["package"] == pkg.name]
        stated = sorted({(r["licence"], r["licence_source"]) for r in rows})
        out[pkg.name] = {"game": pkg.game, "version": versions[pkg.name], "tracks": len(rows),
                         "licences": [{"licence": lic, "stated_in": src} for lic, src in stated],
                         "copyright_file": f"usr/share/doc/{pkg.name}/copyright"}
    return out


def _readme(licences: dict) -> str:
    lines = ["# kgjemb real-recordings catalog", "",
             "Produced game soundtracks from Debian game-data packages (`apt-get download` + unpack;",
             "audio copied byte for byte). Built by `scripts/build_real_catalog.py`; `meta/tracks.csv`",
             "says where each track's credit and licence come from.", "",
             "## Licences (package: licence — where the package states it)", ""]
    for name, d in sorted(licences.items()):
        for lic in d["licences"]:
            lines.append(f"- {name} {d['version']} ({d['game']}): {lic['licence']} — {lic['stated_in']}")
    return "\n".join(lines) + "\n"
