"""Fetch and unpack Debian packages for the real-recordings catalog (cached, nothing installed).

``fetch_deb(name, debs)`` runs ``apt-get download`` once per package into ``debs``;
``unpack(deb, root)`` streams ``dpkg-deb --fsys-tarfile`` through :mod:`tarfile` and keeps
only files under a folder named ``music``/``musics`` plus ``usr/share/doc/*/copyright``,
into ``root/<deb stem>`` (a ``.done`` marker makes a second call a no-op).

>>> unpack(fetch_deb("xmoto-data", Path("cache/debs")), Path("cache/unpacked"))  # doctest: +SKIP
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import unquote

from kgjemb.atomic import atomic_dir, remove_leftovers
from kgjemb.errors import KgjembError

__all__ = ["MUSIC_DIR", "PackageError", "deb_version", "fetch_deb", "music_files", "unpack"]

#: a folder holding music: ``music``, ``Music``, ``Musics``
MUSIC_DIR = re.compile(r"^musics?$", re.IGNORECASE)


class PackageError(KgjembError):
    """A package could not be downloaded or unpacked; the message names it."""


def fetch_deb(name: str, debs: Path) -> Path:
    """``debs/<name>_<version>_all.deb``, downloaded with ``apt-get download`` unless present."""
    debs.mkdir(parents=True, exist_ok=True)
    have = sorted(debs.glob(f"{name}_*.deb"))
    if have:
        return have[-1]
    tmp = debs / f".dl-{name}-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    try:
        proc = subprocess.run(["apt-get", "download", name], cwd=tmp, capture_output=True, text=True, timeout=1800)
        got = sorted(tmp.glob(f"{name}_*.deb"))
        if proc.returncode != 0 or not got:
            raise PackageError(f"apt-get download {name} failed: {proc.stderr.strip()[-400:]}")
        os.replace(got[0], debs / got[0].name)
        return debs / got[0].name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def deb_version(deb: Path) -> str:
    """The package version in a downloaded ``.deb``'s name (apt writes an epoch's colon as %3a)."""
    return unquote(deb.stem.split("_")[1])


def music_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The files under ``root`` ending in one of ``suffixes`` that lie in a music folder, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and any(MUSIC_DIR.match(x) for x in p.relative_to(root).parts[:-1]))


def _wanted(member: str) -> bool:
    parts = member.lstrip("./").split("/")
    if member.endswith("/copyright") and parts[:3] == ["usr", "share", "doc"]:
        return True
    return any(MUSIC_DIR.match(p) for p in parts[:-1])


def unpack(deb: Path, root: Path) -> Path:
    """Unpack the music folders and copyright files of ``deb`` into ``root/<deb stem>``
    (once: a ``.done`` marker makes it a no-op); returns that folder."""
    dest = root / deb.stem
    if (dest / ".done").exists():
        return dest
    remove_leftovers(dest)  # what unpacks killed midway left
    with atomic_dir(dest) as tmp:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for m in tar:
                    if m.isfile() and _wanted(m.name):
                        tar.extract(m, tmp, filter="data")
        finally:
            proc.stdout.close()
            if proc.wait() != 0:
                raise PackageError(f"dpkg-deb --fsys-tarfile {deb.name} failed (exit {proc.returncode})")
        (tmp / ".done").write_text("")
    return dest
