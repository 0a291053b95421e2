"""Unlabelled real music for the self-supervised term: more soundtracks, one folder each.

``build_unlabelled(out)`` fetches Debian game-data packages that are *not* in the
real-recordings catalog (:data:`UNLABELLED_PACKAGES`), with the catalog builder's own
download and unpack (:mod:`kgjemb.demo.real_fetch`: ``apt-get download``, nothing
installed, only music folders and the copyright file unpacked, cached), and copies their
music of at least ``min_seconds`` byte for byte into ``<out>/<package>/``: one folder per
soundtrack, as a music library keeps one per release, which is all that
``kgjemb train --unlabelled OUT`` with ``"ssl_positives": "folder"`` needs. No catalog
row, credit or attribute is written — this audio is unlabelled on purpose — but every file's
licence is recorded: ``<out>/sources.csv`` (file, package, version, seconds, the licence of
the DEP-5 stanza that covers it and which stanza), each package's ``copyright`` file as
``<out>/<package>/copyright``, and ``README.md``. A finished build of the same arguments
is a no-op (``READY`` written last, like the catalog builder).

>>> build_unlabelled("data/real-unlabelled")["counts"]  # doctest: +SKIP
{'recordings': 74, 'minutes': 229.9, 'audio_mb': 262.1}
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from pathlib import Path

from kgjemb.atomic import atomic_dir, remove_leftovers
from kgjemb.demo.builder import build_lock
from kgjemb.demo.real import AUDIO_SUFFIXES, MANIFEST_FORMAT, audio_tags, finished_manifest
from kgjemb.demo.real_fetch import deb_version, fetch_deb, music_files, unpack
from kgjemb.demo.real_sources import PACKAGES, Dep5, Package
from kgjemb.demo.tables import write_csv

__all__ = ["UNLABELLED_PACKAGES", "build_unlabelled"]

logger = logging.getLogger(__name__)

#: packages with produced music in a ``music`` folder, none of them in the catalog; ``licence``
#: only where the copyright file is not machine-readable (Warmux's is free text)
UNLABELLED_PACKAGES: dict[str, Package] = {p.name: p for p in (
    Package("extremetuxracer-data", "Extreme Tux Racer"),
    Package("flare-game", "Flare"),
    Package("hyperrogue-music", "HyperRogue"),
    Package("supertuxkart-data", "SuperTuxKart"),
    Package("warmux-data", "Warmux", licence="GPL-2+",
            licence_note="copyright (free text): the package under the GNU GPL version 2 or any later version"),
)}
SOURCE_COLUMNS = ["file", "package", "version", "seconds", "licence", "licence_stanza"]


def licence_of(dep5: Dep5, installed: str) -> tuple[str, str]:
    """(licence, the ``Files`` patterns of the stanza stating it) for a file at the installed
    path ``installed``: DEP-5 patterns are written against the source tree, whose root is
    some folder of the installed path, so each tail of the path is tried, longest first; a
    stanza naming the file wins over the catch-all ``Files: *`` one. ("unknown", "") when
    the copyright file is not machine-readable."""
    parts = installed.split("/")
    fallback = None
    for i in range(len(parts)):
        st = dep5.match("/".join(parts[i:]))
        if st is None:
            continue
        if not st.catch_all:
            return st.licence, " ".join(st.files)
        fallback = fallback or st
    return (fallback.licence, "*") if fallback else ("unknown", "")


def build_unlabelled(out: str | os.PathLike, packages=tuple(UNLABELLED_PACKAGES), *, min_seconds: float = 30.0,
                     cache_dir: str | os.PathLike | None = None, force: bool = False) -> dict:
    """Build the folder (see the module docstring) and return its manifest. ``cache_dir``:
    downloads and unpacked files (default ``<out>/../.real-cache``, the catalog builder's).
    Raises ``ValueError`` for a package of the catalog or an unknown one,
    :class:`~kgjemb.demo.real_fetch.PackageError` when a download or unpack fails."""
    out = Path(out).resolve()
    packages = tuple(sorted(set(packages)))
    bad = sorted(p for p in packages if p in PACKAGES or p not in UNLABELLED_PACKAGES)
    if bad or not packages:
        raise ValueError(f"not unlabelled packages: {bad or 'none given'}; choose from {sorted(UNLABELLED_PACKAGES)} "
                         "(the catalog's own packages would leak its held-out albums)")
    identity = {"packages": list(packages), "min_seconds": float(min_seconds)}
    if not force and (man := finished_manifest(out, identity)):
        logger.info("%s is complete for these arguments; nothing to do", out)
        return man
    cache = Path(cache_dir) if cache_dir else out.parent / ".real-cache"
    out.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(out.with_name(f".{out.name}.lock")):
        remove_leftovers(out)
        rows, versions = [], {}
        with atomic_dir(out) as tmp:
            for name in packages:
                deb = fetch_deb(name, cache / "debs")
                root = unpack(deb, cache / "unpacked")
                versions[name] = deb_version(deb)
                copyright = root / "usr" / "share" / "doc" / name / "copyright"
                text = copyright.read_text(errors="replace") if copyright.is_file() else ""
                dep5 = Dep5.parse(text)
                (tmp / name).mkdir()
                if text:
                    (tmp / name / "copyright").write_text(text)
                for src in music_files(root, AUDIO_SUFFIXES):
                    rel = src.relative_to(root).as_posix()
                    seconds = audio_tags(src)[1]
                    if seconds < min_seconds:
                        continue
                    dest = tmp / name / src.name
                    if dest.exists():  # same name in two music folders: keep both
                        dest = tmp / name / rel.replace("/", "__")
                    shutil.copyfile(src, dest)
                    licence, stanza = licence_of(dep5, rel)
                    pkg = UNLABELLED_PACKAGES[name]
                    if licence == "unknown" and pkg.licence:
                        licence, stanza = pkg.licence, pkg.licence_note
                    rows.append({"file": dest.relative_to(tmp).as_posix(), "package": name,
                                 "version": versions[name], "seconds": round(seconds, 1),
                                 "licence": licence, "licence_stanza": stanza})
                logger.info("%s %s: %d recordings", name, versions[name], sum(r["package"] == name for r in rows))
            write_csv(tmp / "sources.csv", SOURCE_COLUMNS, rows)
            manifest = {
                "format": MANIFEST_FORMAT, "args": identity, "versions": versions,
                "counts": {"recordings": len(rows), "minutes": round(sum(r["seconds"] for r in rows) / 60, 1),
                           "audio_mb": round(sum((tmp / r["file"]).stat().st_size for r in rows) / 2**20, 1)},
                "per_package": dict(Counter(r["package"] for r in rows)),
                "licences": dict(sorted(Counter(r["licence"] for r in rows).items())),
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            (tmp / "README.md").write_text(_readme(rows))
            (tmp / "READY").write_text("")
    logger.info("built %s: %s", out, manifest["counts"])
    return manifest


def _readme(rows: list[dict]) -> str:
    lines = ["# Unlabelled real music (kgjemb)", "",
             "Soundtracks from Debian game-data packages that are not in the real-recordings catalog, one",
             "folder per package, audio copied byte for byte, for `kgjemb train --unlabelled`. Built by",
             "`scripts/build_real_catalog.py --unlabelled-out`. `sources.csv` gives each file's licence",
             "and the DEP-5 stanza stating it; each folder holds its package's `copyright` file.", "",
             "## Licences (package version: licence — recordings)", ""]
    per = Counter((r["package"], r["version"], r["licence"]) for r in rows)
    for (name, version, licence), n in sorted(per.items()):
        lines.append(f"- {name} {version} ({UNLABELLED_PACKAGES[name].game}): {licence} — {n}")
    return "\n".join(lines) + "\n"
