"""Walk music21 corpus collections work by work, cheaply, and parse one work at a time.

Discovery never parses music: it lists files, reads Humdrum/ABC headers as text, and
counts ``X:`` lines of multi-tune ABC files so that each tune becomes its own work
(``corpus.parse(path, number=N)`` parses one tune; a whole 50-tune file takes ~19 s).
Works come back in a stable order (sha1 of the work id), so ``limit`` takes an
alphabet-independent, reproducible sample.

>>> works = discover("josquin")
>>> works[0].collection, works[0].work_id.startswith("josquin-")
('josquin', True)
"""
from __future__ import annotations

import hashlib
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kgjemb.demo.sources import Collection, corpus_root, resolve_collection, slug
from kgjemb.demo.titles import SKIP_PATHS, describe

__all__ = ["Work", "corpus_root", "discover", "load_score"]

logger = logging.getLogger(__name__)

_SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")
_BACH_RE = re.compile(r"^bwv(\d+)(?:\.(\d+))?(?:-(\d))?\.mxl$")
_BACH_ALBUMS = {
    227: "Jesu, meine Freude, BWV 227", 244: "St Matthew Passion, BWV 244",
    245: "St John Passion, BWV 245", 248: "Christmas Oratorio, BWV 248",
}


@dataclass(frozen=True)
class Work:
    """One work (movement, chorale, tune) of a collection, before parsing.

    ``path`` is relative to the music21 corpus root; ``number`` selects a tune inside a
    multi-tune ABC file (None: the whole file); ``voices`` > 1 means the ABC file holds one
    voice per tune and the work is all of them merged.
    """

    work_id: str
    collection: str
    path: str
    title: str
    album_id: str
    album_title: str
    number: int | None = None
    voices: int = 1
    form_hint: str | None = None
    tempo_hint: str | None = None


def _sort_key(w: Work) -> str:
    return hashlib.sha1(w.work_id.encode()).hexdigest()


def _abc_tunes(text: str) -> list[dict[str, str]]:
    """Header fields (X, T, R, N, first only) of each tune of an ABC file."""
    tunes: list[dict[str, str]] = []
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]):\s*(.*?)\s*$", line)
        if not m:
            continue
        field, value = m.group(1), m.group(2)
        if field == "X":
            tunes.append({"X": value})
        elif tunes and field not in tunes[-1]:
            tunes[-1][field] = value
    return tunes


def _clean_title(t: str) -> str:
    t = re.sub(r"\s+", " ", t.replace('"', "")).strip(" ,.-")
    if t.endswith(", The"):
        t = "The " + t[:-5]
    return t


def _camel_title(stem: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z0-9])", " ", stem).replace("_", " ").strip()


def _bach(root: Path, coll: Collection) -> list[Work]:
    from music21.corpus.chorales import ChoraleList

    titles = {int(k): v["title"] for k, v in ChoraleList().byBWV.items() if str(k).isdigit()}
    works = []
    for p in sorted((root / coll.folder).iterdir()):
        m = _BACH_RE.match(p.name)
        if not m:
            continue
        bwv = int(m.group(1))
        num = p.name[: -len(".mxl")]
        album = _BACH_ALBUMS.get(bwv) or (f"Cantata BWV {bwv}" if bwv <= 224 else "Four-part chorales, BWV 250-438")
        album_id = f"bach-bwv{bwv}" if bwv <= 248 else "bach-bwv250-438"
        title = f"Chorale {num.replace('bwv', 'BWV ')}"
        if m.group(2) is None and bwv in titles:
            title = f"{titles[bwv]} (BWV {bwv})"
        works.append(Work(f"bach-{num}", coll.key, f"{coll.folder}/{p.name}", title,
                          album_id, album, form_hint="chorale"))
    return works


def _humdrum_header(p: Path) -> dict[str, str]:
    head: dict[str, str] = {}
    with p.open(encoding="latin-1") as fh:
        for line in fh:
            if line.startswith("!!!"):
                key, _, val = line[3:].partition(":")
                head.setdefault(key.strip(), val.strip())
            elif not line.startswith("!"):
                break
    return head


def _palestrina(root: Path, coll: Collection) -> list[Work]:
    works = []
    for p in sorted((root / coll.folder).glob("*.krn")):
        head = _humdrum_header(p)
        mass = head.get("OPR") or "Mass"
        section = p.stem.split("_")[0]
        otl = head.get("OTL") or section
        if otl.lower() != section.lower():
            section = f"{section}: {otl}"
        works.append(Work(f"palestrina-{slug(p.stem)}", coll.key, f"{coll.folder}/{p.name}", f"{section} ({mass})",
                          f"palestrina-{slug(mass)}", mass, form_hint="mass movement"))
    return works


#: O'Neill's Music of Ireland (1850 tunes) prints its dance tunes in sections. Its
#: transcribers left out R: in some files; a tune without one inside a dance section takes
#: the section's form. Every R: given inside a section agrees with it (one tune says
#: "slide", and keeps that); the airs (1-625), O'Carolan pieces (626-700), long dances and
#: marches (1781-1850) are not uniform and get no section form.
ONEILLS_SECTIONS: tuple[tuple[int, int, str], ...] = (
    (701, 1115, "jig"), (1116, 1175, "slip jig"), (1176, 1555, "reel"), (1556, 1780, "hornpipe"),
)


def _oneills_section(number: int) -> str | None:
    return next((form for lo, hi, form in ONEILLS_SECTIONS if lo <= number <= hi), None)


def _abc_album(coll: Collection, stem: str, multi: bool) -> tuple[str, str]:
    """(album id, album title) of one ABC file: the collection itself for one-tune files;
    one album per book for multi-tune files (Aird's ``book3`` → "..., Vol. 3")."""
    if not multi:
        return coll.artist_id, coll.title
    m = re.fullmatch(r"book(\d+)", stem)
    return f"{coll.artist_id}-{slug(stem)}", (f"{coll.title}, Vol. {int(m.group(1))}" if m else f"{coll.title}, {stem}")


def _abc_collection(root: Path, coll: Collection) -> list[Work]:
    """Multi-tune ABC books (O'Neill's, Aird's) and one-tune-per-file sets (Ryan's).

    The form comes from the tune's ``R:`` field, else a form word in its title, else (O'Neill's)
    its book section, else "Slow" in its ``N:`` field (O'Neill's marks airs so). Aird's ``N:``
    lines are the transcriber's editorial notes, not performance marks: not used.
    """
    files = sorted((root / coll.folder).rglob("*.abc"))
    ranges = {}
    for p in files:  # O'Neill's ships overlapping ranges (0626-0635 inside 0626-0700): keep the widest
        m = re.match(r"^(\d+)-(\d+)", p.stem)
        if m:
            ranges[p] = (int(m.group(1)), int(m.group(2)))
    notes_are_marks = coll.key != "airdsAirs"
    works, seen_titles = [], set()
    for p in files:
        if p in ranges:
            lo, hi = ranges[p]
            if any(q != p and (ranges[q][0] <= lo and hi <= ranges[q][1]) and (ranges[q] != (lo, hi) or str(q) < str(p))
                   for q in ranges):
                continue
        tunes = _abc_tunes(p.read_text(encoding="latin-1"))
        rel = p.relative_to(root).as_posix()
        multi = len(tunes) > 1
        album_id, album_title = _abc_album(coll, p.stem, multi)
        for t in tunes:
            try:
                x = int(t["X"])
            except ValueError:
                continue
            title = _clean_title(t.get("T") or _camel_title(p.stem))
            title = re.sub(r"\s+--\s+.*$", "", title) or title
            if title.isupper():
                title = title.title().replace("'S", "'s")
            form_word = re.search(r"(Reel|Jig|Hornpipe|Strathspey|Clog|Fling|Polka|March|Waltz)(The)?$", p.stem)
            if not multi and form_word and form_word.group(1).lower() not in title.lower():
                title = f"{title} {form_word.group(1)}"  # Ryan's: "Favorite" + "Hornpipe" from the file name
            key = (title.lower(), t.get("R", "").lower())
            if key in seen_titles and multi:  # duplicate tune across overlapping books
                continue
            seen_titles.add(key)
            wid = f"{coll.artist_id}-{x}" if multi else f"{coll.artist_id}-{slug(p.stem)}"
            notes = t.get("N") if notes_are_marks else None
            form = _norm_form(t.get("R")) or _form_from_text(t.get("T", ""), p.stem)
            if form is None and coll.key == "oneills1850" and not (t.get("R") or "").strip():
                form = _oneills_section(x)
            if form is None and re.search(r"\bslow\b", notes or "", re.I):
                form = "air"  # O'Neill's marks its airs "Slow" / "Very slow"
            works.append(Work(wid, coll.key, rel, title, album_id, album_title, number=x if multi else None,
                              form_hint=form, tempo_hint=notes))
    return works


_FORMS = {"reel": "reel", "jig": "jig", "double jig": "jig", "single jig": "jig", "slip jig": "slip jig",
          "slipjig": "slip jig", "hornpipe": "hornpipe", "strathspey": "strathspey", "clog": "clog",
          "fling": "fling", "highland fling": "fling", "polka": "polka", "waltz": "waltz", "march": "march",
          "schottische": "schottische", "set dance": "set dance", "air": "air", "slow air": "air",
          "slide": "slide", "planxty": "planxty", "gavotte": "gavotte", "gavot": "gavotte", "minuet": "minuet",
          "quick step": "march", "quickstep": "march", "strathsy": "strathspey", "jigg": "jig", "marche": "march"}
# Title words, first match wins, whole words only ("Fishing for Eels" is no reel). "Quick
# Step" is a quick march; "Strathsy" is Aird's abbreviation of strathspey; "Gavot", "Jigg"
# and "Marche" are period spellings.
_TEXT_FORMS = ("slip jig", "double jig", "jigg", "jig", "reel", "hornpipe", "strathspey", "strathsy", "clog",
               "fling", "polka", "waltz", "quick step", "marche", "march", "schottische", "set dance", "planxty",
               "minuet", "gavotte", "gavot", "air")


def _norm_form(raw: str | None) -> str | None:
    return _FORMS.get(" ".join((raw or "").lower().split()))


def _form_from_text(title: str, stem: str = "") -> str | None:
    """Form named by a whole word of ``title`` or of the file name's words (Ryan's
    ``AcaciaReel`` → "Acacia Reel"); two-word forms may be written as one ("Slipjig")."""
    low = f"{title} {_camel_title(stem)}".lower()
    for word in _TEXT_FORMS:
        if re.search(r"\b" + word.replace(" ", r"\s?") + r"\b", low):
            return _FORMS[word]
    return None


def _generic(root: Path, coll: Collection) -> list[Work]:
    """Score files of any other collection: one work per file (or per voice-set ABC file)."""
    comp_id = coll.artist_id
    works, stems = [], set()
    base = root / coll.folder
    for p in sorted(base.rglob("*")):
        if p.suffix.lower() not in _SCORE_SUFFIXES or "_old" in p.stem or "__pycache__" in p.parts:
            continue
        rel_stem = p.relative_to(base).with_suffix("").as_posix()
        if rel_stem in stems:  # the same movement as .krn and .mxl: keep the first (sorted: .krn)
            continue
        stems.add(rel_stem)
        rel = p.relative_to(root).as_posix()
        if rel in SKIP_PATHS:
            continue
        sub = p.parent.relative_to(base).as_posix()
        voices = 1
        title, album, form = _camel_title(p.stem), (sub if sub != "." else _camel_title(p.stem)), None
        if p.suffix == ".abc":
            tunes = _abc_tunes(p.read_text(encoding="latin-1"))
            if len(tunes) > 1:
                voices = len(tunes)  # Josquin: one X: per voice of one piece
            if tunes:
                title = _clean_title(tunes[0].get("T") or title)
        known = describe(rel)
        if known is not None:
            title, album, form = known
        works.append(Work(f"{comp_id}-{slug(rel_stem.replace('/', '-'), keep_dots=True)}", coll.key, rel, title,
                          f"{comp_id}-{slug(album)}", album, voices=voices, form_hint=form))
    return works


def discover(collection: str | Collection, *, limit: int | None = None) -> list[Work]:
    """Works of one collection in stable order, at most ``limit`` (None: the collection's
    own ``max_works`` cap; pass 0 for all). Raises ``ValueError`` for unknown names."""
    coll = collection if isinstance(collection, Collection) else resolve_collection(collection)
    root = corpus_root()
    if coll.key == "bach":
        works = _bach(root, coll)
    elif coll.key == "palestrina":
        works = _palestrina(root, coll)
    elif coll.key in ("oneills1850", "ryansMammoth", "airdsAirs", "essenFolksong"):
        works = _abc_collection(root, coll)
    else:
        works = _generic(root, coll)
    seen: set[str] = set()
    unique = []
    for w in sorted(works, key=_sort_key):
        if w.work_id not in seen:
            seen.add(w.work_id)
            unique.append(w)
    cap = coll.max_works if limit is None else (limit or None)
    return unique[:cap] if cap else unique


@contextmanager
def _unbeamed():
    """Parsers skip beaming the notes they read (``Stream.makeBeams(inPlace=True)``, which
    the ABC, MuseData and RomanText readers call at the end of a part): beams are notation
    only, no pitch, onset or length depends on them (197 works of every collection gave the
    same results and audio with and without), and they took ~60 % of an ABC tune's parse.
    Calls that ask for a beamed copy still get one."""
    from music21 import stream

    beam = stream.Stream.makeBeams

    def skip_in_place(self, *args, inPlace=False, **kwargs):
        return None if inPlace else beam(self, *args, inPlace=inPlace, **kwargs)

    stream.Stream.makeBeams = skip_in_place
    try:
        yield
    finally:
        stream.Stream.makeBeams = beam


def load_score(work: Work):
    """Parse ``work`` into a ``music21.stream.Score`` (one tune of a multi-tune file; voices
    of a per-voice ABC file merged into one score) at sounding pitch: parts of transposing
    instruments (Weber's B-flat clarinet) are written a tone high in the file."""
    from music21 import converter, stream

    path = corpus_root() / work.path
    # Parsed from the source every time, and no pickle written: music21's pickle cache
    # (in its scratch folder) costs a freeze, a write and a re-read of every score on a
    # fresh machine (~35 % more CPU than the parse, measured on the demo corpus), and a
    # catalog is built once; reading pickles that other runs left would make the scores
    # depend on what a machine happens to hold.
    with _unbeamed():
        s = converter.parse(path, number=work.number, forceSource=True, storePickle=False)
    if isinstance(s, stream.Opus):
        scores = list(s.scores)
        if len(scores) == 1:
            s = scores[0]
        else:
            merged = stream.Score()
            for sc in scores:
                for part in sc.parts:
                    merged.insert(0, part)
            merged.metadata = scores[0].metadata
            s = merged
    if any(p.atSoundingPitch is False and (p.getInstrument(returnDefault=False) or None) is not None
           and p.getInstrument(returnDefault=False).transposition is not None for p in s.parts):
        s = s.toSoundingPitch()
    return s
