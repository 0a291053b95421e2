"""What the real-recordings catalog takes from each Debian game-data package, and how
credits and licences are read from what the package ships.

Every statement here is the package's own: the DEP-5 ``copyright`` file (licence and
copyright holder per file pattern, last matching stanza wins), the audio files' tags
(title, composer/artist, date, genre), and credit files that ship next to the music
(Warzone 2100's ``album.json``, Hedgewars' ``Data/Music/credits.txt``). Where a package
credits music only in the free text of its copyright file, :class:`Package` carries that
credit with the line it comes from (``credits``), and name variants a package itself
equates (an e-mail handle, an "aka") go in ``aliases``.

>>> PACKAGES["supertux-data"].game
'SuperTux'
>>> Dep5.parse("Files: *\\nCopyright: A\\nLicense: GPL-2+\\n\\nFiles: data/music/*\\n"
...            "Copyright: B\\nLicense: CC0\\n").match("data/music/x.ogg").licence
'CC0'
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_PACKAGES", "PACKAGES", "Credit", "Dep5", "Package", "Stanza", "sidecar_credits"]


@dataclass(frozen=True)
class Package:
    """One Debian package of game data with music in it.

    ``source_root``: the installed folder that corresponds to the root of the source tree
    the package's DEP-5 ``Files:`` patterns are written against, and ``source_prefix`` the
    source-tree path of that folder (so ``usr/share/games/supertux2/music/x.ogg`` is
    matched as ``data/music/x.ogg``). ``licence``: the licence of the music when the
    copyright file is not machine-readable, with ``licence_note`` quoting where it is
    stated. ``credits``: (glob over the file name, composer, statement) for music credited
    only in free text. ``aliases``: (name as tagged, name as credited) pairs the package
    itself equates.
    """

    name: str
    game: str
    source_root: str = ""
    source_prefix: str = ""
    licence: str | None = None
    licence_note: str = ""
    credits: tuple[tuple[str, str, str], ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()


PACKAGES: dict[str, Package] = {p.name: p for p in (
    Package("freedroidrpg-data", "FreedroidRPG", "usr/share/freedroidrpg"),
    Package("hedgewars-data", "Hedgewars", "usr/share/games/hedgewars", "share/hedgewars/"),
    Package("lincity-ng-data", "LinCity-NG", "usr/share/games/lincity-ng", "data/"),
    Package(
        "megaglest-data", "MegaGlest", "usr/share/games/megaglest",
        credits=(
            ("*/romans/music/*", "Mattias Westlund",
             "copyright: The Romans faction uses music tracks from Mattias Westlund's album \"Chronicles III\""),
            ("*/indian/music/*", "Aminos", "copyright: Aminos for the indians and persian background music"),
            ("*/persian/music/*", "Aminos", "copyright: Aminos for the indians and persian background music"),
            ("*/egypt/music/*", "Margaras", "copyright: Margaras for the egypt background music"),
            ("*/norsemen/music/*", "manolo camp", "copyright: manolo camp for the background music(norsemen)"),
        ),
    ),
    Package("supertux-data", "SuperTux", "usr/share/games/supertux2", "data/",
            aliases=(("Wansti", "Marek Moeckel"),)),  # copyright: Marek Moeckel <wansti@gmx.de>
    Package("warzone2100-music", "Warzone 2100", "usr/share/games/warzone2100"),
    Package(
        "wesnoth-1.16-music", "The Battle for Wesnoth", "usr/share/games/wesnoth/1.16",
        licence="GPL-2+",
        licence_note="copyright: GNU General Public License version 2 or at your option any later version; "
                     "tracks tagged license=GPL",
    ),
    Package("widelands-data", "Widelands", "usr/share/games/widelands"),
    Package("xmoto-data", "X-Moto", "usr/share/games/xmoto"),
)}

#: The default build: every package above (about 1.5 GB of downloads, ~200 tracks).
DEFAULT_PACKAGES: tuple[str, ...] = tuple(sorted(PACKAGES))


@dataclass(frozen=True)
class Stanza:
    files: tuple[str, ...]
    copyright: tuple[str, ...]
    licence: str

    @property
    def catch_all(self) -> bool:
        """True for the ``Files: *`` stanza: it credits the whole project, not the music."""
        return self.files == ("*",)


@dataclass(frozen=True)
class Dep5:
    """A machine-readable (DEP-5) Debian copyright file: its ``Files`` stanzas in order."""

    stanzas: tuple[Stanza, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Dep5":
        """Parse ``text``; a file that is not DEP-5 gives no stanzas."""
        if not text.startswith("Format:"):
            return cls()
        out = []
        for para in re.split(r"\n\s*\n", text):
            fields: dict[str, list[str]] = {}
            key = None
            for line in para.splitlines():
                m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if m and not line[0].isspace():
                    key = m.group(1).lower()
                    fields[key] = [m.group(2).strip()] if m.group(2).strip() else []
                elif key and line.strip() and line.strip() != ".":
                    fields[key].append(line.strip())
            if "files" in fields and "license" in fields and fields["license"]:
                files = tuple(f for line in fields["files"] for f in line.split())
                out.append(Stanza(files, tuple(fields.get("copyright", [])), fields["license"][0]))
        return cls(tuple(out))

    def match(self, source_path: str) -> Stanza | None:
        """The last stanza whose ``Files`` patterns match ``source_path`` (DEP-5: ``*``
        matches any characters, ``/`` included), or None."""
        hit = None
        for st in self.stanzas:
            if any(fnmatch.fnmatchcase(source_path, pat) for pat in st.files):
                hit = st
        return hit


@dataclass(frozen=True)
class Credit:
    """What a credit file next to the music states about one track."""

    composer: str | None = None
    title: str | None = None
    album: str | None = None
    year: int | None = None
    licence: str | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)


def _year(text) -> int | None:
    m = re.search(r"\b(1[89]\d\d|20\d\d)\b", str(text or ""))
    return int(m.group(1)) if m else None


def _album_licence(folder: Path) -> tuple[str | None, set[str]]:
    """Licence of a Warzone-style ``license.txt`` (``... licensed and available under: X``)
    and the file stems it names as exceptions (``For all track *except* NAME:``), which keep
    the package's licence."""
    lic = folder / "license.txt"
    if not lic.is_file():
        return None, set()
    text = lic.read_text(errors="replace")
    m = re.search(r"licensed and available under:\s*\n?\s*([A-Za-z0-9.+-]+)", text)
    excepted = set(re.findall(r"except\*?\s+([A-Za-z0-9_.-]+?):?\s*$", text, flags=re.M))
    return (m.group(1) if m else None), excepted


def sidecar_credits(music_files: list[Path]) -> dict[Path, Credit]:
    """Credits stated by files shipped next to the music: ``album.json`` (title, author,
    date of each listed track; the folder's ``license.txt``) and ``credits.txt``
    (``File.ogg=Composer <url>`` lines, file names matched case-insensitively)."""
    out: dict[Path, Credit] = {}
    folders = sorted({p.parent for p in music_files})
    for folder in folders:
        album = folder / "album.json"
        if album.is_file():
            meta = json.loads(album.read_text(encoding="utf-8"))
            licence, excepted = _album_licence(folder)
            for t in meta.get("tracks", []):
                p = folder / t["filename"]
                lic = None if p.stem in excepted else licence
                out[p] = Credit(composer=t.get("author") or meta.get("author"), title=t.get("title"),
                                album=meta.get("title"), year=_year(meta.get("date")), licence=lic,
                                source=f"{album.name}" + (" + license.txt" if lic else ""))
        credits = folder / "credits.txt"
        if credits.is_file():
            names = {p.name.lower(): p for p in music_files if p.parent == folder}
            for line in credits.read_text(encoding="utf-8", errors="replace").splitlines():
                fname, sep, who = line.partition("=")
                p = names.get(fname.strip().lower())
                if sep and p is not None:
                    who = re.sub(r"\s*<[^>]*>", "", who)  # drop the url
                    who = re.sub(r'\s*-\s*".*$', "", who).strip()  # 'Kevin MacLeod - "Hitman" [edit]'
                    out[p] = Credit(composer=who or None, source="credits.txt")
    return out
