"""Curated facts about the music21 corpus collections and their composers.

Every collection the demo builder knows is a :class:`Collection`: which folder of the
installed music21 corpus it reads, whom its tracks are credited to, its licence (taken from
the corpus's own notes: ``corpus/license.txt``, ``essenFolksong/license.txt``, rights lines
embedded in the files) and how many works a default build takes from it. Composers come
from :data:`COMPOSERS`, a small hand-made table of well-known, uncontroversial facts
(life dates, country, era).

>>> resolve_collection("Bach").key
'bach'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COLLECTIONS",
    "COMPOSERS",
    "DEFAULT_COLLECTIONS",
    "Collection",
    "Composer",
    "resolve_collection",
    "slug",
]


@dataclass(frozen=True)
class Composer:
    """An artist row: a composer, or a tradition standing in for anonymous tunes."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    born: int | None = None
    died: int | None = None
    country: str | None = None
    era: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Collection:
    """One music21 corpus collection.

    ``role`` is the ``BY`` role of the artist credit (``composer`` or ``tradition``);
    ``max_works`` caps how many works a default build takes (None: all); ``commercial``
    is False for encodings whose licence forbids commercial use (never in the default).
    """

    key: str
    folder: str
    artist_id: str
    title: str
    licence: str
    licence_note: str
    role: str = "composer"
    max_works: int | None = None
    commercial: bool = True
    aliases: tuple[str, ...] = ()


_M21 = "music21 corpus: distributed with the encoders' permission (corpus/license.txt)"

COMPOSERS: dict[str, Composer] = {c.id: c for c in (
    Composer("bach", "Johann Sebastian Bach", ("J. S. Bach", "J.S. Bach", "Bach"), 1685, 1750, "Germany", "Baroque", "German-speaking lands"),
    Composer("palestrina", "Giovanni Pierluigi da Palestrina", ("Palestrina", "G. P. da Palestrina"), 1525, 1594, "Italy", "Renaissance", "Italy"),
    Composer("monteverdi", "Claudio Monteverdi", ("Monteverdi",), 1567, 1643, "Italy", "Renaissance", "Italy"),
    Composer("josquin", "Josquin des Prez", ("Josquin", "Josquin Desprez"), None, 1521, "France", "Renaissance", "Franco-Flemish"),
    Composer("corelli", "Arcangelo Corelli", ("Corelli",), 1653, 1713, "Italy", "Baroque", "Italy"),
    Composer("handel", "George Frideric Handel", ("Handel", "Georg Friedrich Händel", "G. F. Handel"), 1685, 1759, "Germany", "Baroque", "England"),
    Composer("haydn", "Joseph Haydn", ("Haydn", "Franz Joseph Haydn"), 1732, 1809, "Austria", "Classical", "Vienna"),
    Composer("mozart", "Wolfgang Amadeus Mozart", ("Mozart", "W. A. Mozart"), 1756, 1791, "Austria", "Classical", "Vienna"),
    Composer("beethoven", "Ludwig van Beethoven", ("Beethoven", "L. van Beethoven"), 1770, 1827, "Germany", "Classical", "Vienna"),
    Composer("schumann-robert", "Robert Schumann", ("Schumann", "R. Schumann"), 1810, 1856, "Germany", "Romantic", "German-speaking lands"),
    Composer("chopin", "Frédéric Chopin", ("Chopin", "Frederic Chopin", "Fryderyk Chopin"), 1810, 1849, "Poland", "Romantic", "Poland"),
    Composer("joplin", "Scott Joplin", ("Joplin",), None, 1917, "United States", "early 20th c.", "United States"),
    Composer("oneills-1850", "Irish traditional (O'Neill's 1850)", ("O'Neill's 1850", "O'Neill's Music of Ireland", "Irish traditional"), None, None, "Ireland", "traditional", "Ireland"),
    Composer("ryans-mammoth", "Fiddle tunes (Ryan's Mammoth Collection)", ("Ryan's Mammoth Collection", "Ryan's Mammoth"), None, None, "United States", "traditional", "Ireland, Scotland and North America"),
    Composer("cpebach", "Carl Philipp Emanuel Bach", ("C. P. E. Bach", "C.P.E. Bach", "CPE Bach"), 1714, 1788, "Germany", "Classical", "German-speaking lands"),
    Composer("schubert", "Franz Schubert", ("Schubert", "F. Schubert"), 1797, 1828, "Austria", "Romantic", "Vienna"),
    Composer("schumann-clara", "Clara Schumann", ("Clara Wieck", "Clara Wieck-Schumann", "C. Schumann"), 1819, 1896, "Germany", "Romantic", "German-speaking lands"),
    Composer("weber", "Carl Maria von Weber", ("Weber", "C. M. von Weber"), 1786, 1826, "Germany", "Romantic", "German-speaking lands"),
    # Born in Liège (c. 1370, year uncertain), worked in Padua, where he died in 1412.
    Composer("ciconia", "Johannes Ciconia", ("Ciconia",), None, 1412, "Belgium", "Medieval", "Italy"),
    # Known only as the composer "D. Luca" of a Gloria in the Bologna manuscript Q15.
    Composer("luca", "D. Luca", ("Luca",), None, None, None, "Medieval", None),
    # Portuguese; born c. 1520, died after 1561 (neither year is known).
    Composer("lusitano", "Vicente Lusitano", ("Lusitano",), None, None, "Portugal", "Renaissance", None),
    Composer("liliuokalani", "Liliʻuokalani", ("Liliuokalani", "Queen Liliuokalani", "Lili'uokalani"), 1838, 1917, "Hawaii", None, "Hawaii"),
    Composer("beach", "Amy Beach", ("Mrs. H. H. A. Beach", "Amy Marcy Cheney Beach"), 1867, 1944, "United States", "Romantic", "United States"),
    Composer("johnson-j-r", "J. Rosamond Johnson", ("John Rosamond Johnson", "Rosamond Johnson"), 1873, 1954, "United States", "early 20th c.", "United States"),
    Composer("airds-airs", "Airs and dances (Aird's Selection)", ("Aird's Airs", "Aird's Selection"), None, None, "Scotland", "traditional", "Scotland, England and Ireland"),
    # Further composers that `--collections` may name (not in the default build).
    Composer("verdi", "Giuseppe Verdi", ("Verdi",), 1813, 1901, "Italy", "Romantic", "Italy"),
    Composer("essen-folksong", "European folk song (Essen collection)", ("Essen Folksong Collection",), None, None, None, "traditional", "Europe"),
)}

COLLECTIONS: dict[str, Collection] = {c.key: c for c in (
    Collection("bach", "bach", "bach", "Bach chorales", "music21 corpus", _M21, max_works=300,
               aliases=("J. S. Bach", "Johann Sebastian Bach", "bach chorales")),
    Collection("palestrina", "palestrina", "palestrina", "Palestrina masses", "Humdrum Palestrina (restricted)",
               "Copyright 2000 John Miller; 'Rights to all derivative electronic formats reserved. "
               "Refer to licensing agreement' (embedded !!!YEM lines; agreement at "
               "music-cog.ohio-state.edu/HumdrumDatabases/Palestrina/license.txt)", max_works=300),
    Collection("monteverdi", "monteverdi", "monteverdi", "Monteverdi madrigals", "Ut Orpheus Edizioni (permission)",
               "MusicXML rights line '(c) Ut Orpheus Edizioni 2003'; distributed in music21 with permission"),
    Collection("josquin", "josquin", "josquin", "Josquin chansons and motets", "GPL-2.0-or-later",
               "ABC headers: Copyright (C) 1999 Laura E. Conrad, GNU GPL v2 or later"),
    Collection("corelli", "corelli", "corelli", "Corelli trio sonata", "CC-BY",
               "MusicXML rights line '(c) 2014, Creative Commons License (CC-BY)'"),
    Collection("handel", "handel", "handel", "Handel aria", "music21 corpus", _M21),
    Collection("haydn", "haydn", "haydn", "Haydn string quartets", "music21 corpus", _M21),
    Collection("mozart", "mozart", "mozart", "Mozart quartets and sonata", "music21 corpus", _M21),
    Collection("beethoven", "beethoven", "beethoven", "Beethoven string quartets", "music21 corpus", _M21),
    Collection("schumann_robert", "schumann_robert", "schumann-robert", "Robert Schumann", "music21 corpus", _M21,
               aliases=("Robert Schumann", "schumann")),
    Collection("chopin", "chopin", "chopin", "Chopin mazurka", "music21 corpus", _M21),
    Collection("joplin", "joplin", "joplin", "Joplin rag", "music21 corpus", _M21),
    Collection("oneills1850", "oneills1850", "oneills-1850", "O'Neill's Music of Ireland (1850 tunes)", "music21 corpus",
               _M21 + "; ABC transcriptions by Norbert Paap", role="tradition", max_works=300,
               aliases=("O'Neill's 1850", "O'Neill's", "oneills")),
    Collection("ryansMammoth", "ryansMammoth", "ryans-mammoth", "Ryan's Mammoth Collection (1883)", "music21 corpus",
               _M21 + "; ABC transcriptions contributed by Ray Davies", role="tradition", max_works=300,
               aliases=("Ryan's Mammoth", "Ryan's Mammoth Collection", "ryans")),
    Collection("cpebach", "cpebach", "cpebach", "C. P. E. Bach keyboard sonata", "music21 corpus",
               _M21 + "; MusicXML (2022) without a rights line"),
    Collection("schubert", "schubert", "schubert", "Schubert lied", "music21 corpus",
               _M21 + "; MusicXML encoded by Luke Poeppel (2017), rights line left blank ('Copyright ©')"),
    Collection("schumann_clara", "schumann_clara", "schumann-clara", "Clara Schumann polonaises and trio",
               "CC-BY-SA-4.0 (polonaises); music21 corpus (trio)",
               "Polonaises Op. 1: MusicXML credit 'Typeset by Cypressdome for IMSLP and released under the "
               "CC BY-SA 4.0 license'; Trio Op. 17 movement: rights line '©' only, " + _M21,
               aliases=("Clara Schumann", "clara")),
    Collection("weber", "weber", "weber", "Weber clarinet concertino", "public domain",
               "MusicXML rights line 'Released to Public Domain in 1998' (clarinet-and-piano edition by Oliver Seely)"),
    Collection("ciconia", "ciconia", "ciconia", "Ciconia canon", "CC-BY-SA-3.0",
               "MusicXML rights line '2010 Michael Scott Cuthbert -- freely distributed under a CC-BY-SA 3.0 license'"),
    Collection("luca", "luca", "luca", "Gloria by D. Luca (Q15)", "CC-BY-SA-3.0",
               "MusicXML rights line '2010 Michael Scott Cuthbert -- freely distributed under a CC-BY-SA 3.0 license'"),
    Collection("lusitano", "lusitano", "lusitano", "Lusitano madrigal", "CC0-1.0",
               "MusicXML rights line 'Copyright 2022 Michael Scott Asato Cuthbert: released as CC0/Public Domain'"),
    Collection("liliuokalani", "liliuokalani", "liliuokalani", "Liliʻuokalani song", "CC0-1.0",
               "MusicXML rights line 'Copyright 1884 by LILIUOKALANI (Now, Public Domain; Encoding by MSAC, CC0)'"),
    Collection("beach", "beach", "beach", "Amy Beach part-song", "CC-BY-SA",
               "MusicXML rights line 'Original out of Copyright (1915, G. Schirmer). Engraving Copyright 2017 "
               "Michael Scott Cuthbert, most uses allowed for free (CC-SA-BY)'"),
    Collection("johnson_j_r", "johnson_j_r", "johnson-j-r", "J. Rosamond Johnson song", "CC0-1.0",
               "MusicXML rights line 'Public Domain (Encoding by MSAC: CC0)'"),
    Collection("airdsAirs", "airdsAirs", "airds-airs", "Aird's Selection of Scotch, English, Irish and Foreign Airs",
               "music21 corpus", _M21 + "; ABC transcriptions by Jack Campin (2009), no licence line in the files",
               role="tradition", max_works=300, aliases=("Aird's Airs", "Aird's Selection", "airds")),
    # Not in the default build.
    Collection("verdi", "verdi", "verdi", "Verdi aria (piano adaptation)", "unclear (modern arrangement)",
               "piano adaptation of 'La donna è mobile' credited to Richard Krentslin, no rights line; left out of "
               "the default build because the arrangement's status is not stated"),
    Collection("essenFolksong", "essenFolksong", "essen-folksong", "Essen folksongs", "non-commercial only",
               "essenFolksong/license.txt: permission for non-commercial distribution and use only",
               role="tradition", max_works=300, commercial=False, aliases=("Essen",)),
)}

#: The default build: 25 artists, all collections allowing commercial use. Left out: Essen
#: folksongs (non-commercial only), the Verdi piano adaptation (status unstated) and the
#: corpus's Schoenberg and Webern (20th-century works whose copyright differs by country).
DEFAULT_COLLECTIONS: tuple[str, ...] = (
    "bach", "palestrina", "monteverdi", "josquin", "corelli", "handel", "haydn", "mozart",
    "beethoven", "schumann_robert", "chopin", "joplin", "oneills1850", "ryansMammoth",
    "cpebach", "schubert", "schumann_clara", "weber", "ciconia", "luca", "lusitano", "liliuokalani",
    "beach", "johnson_j_r", "airdsAirs",
)


def slug(text: str, *, keep_dots: bool = False) -> str:
    """Lower-case ascii id fragment: ``"Robert Schumann"`` → ``"robert-schumann"``; dots
    survive only with ``keep_dots`` (catalogue numbers such as ``bwv66.6``)."""
    import unicodedata

    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9.]+" if keep_dots else r"[^a-z0-9]+", "-", text.lower())
    s = re.sub(r"-?\.-?", ".", s) if keep_dots else s
    return s.strip("-.") or "x"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def corpus_root() -> Path:
    """Folder of the installed music21 corpus (music21 is imported only when asked)."""
    import music21

    return Path(music21.__file__).parent / "corpus"


def resolve_collection(name: str) -> Collection:
    """The collection called ``name`` (key, folder, alias or composer name; case and
    punctuation ignored). Any other folder of the installed music21 corpus is accepted
    too and gets a generic entry (artist from the folder name, licence from
    ``corpus/license.txt``). Raises ``ValueError`` listing the valid choices."""
    want = _norm(name)
    for c in COLLECTIONS.values():
        names = (c.key, c.folder, c.artist_id, c.title, *c.aliases)
        comp = COMPOSERS.get(c.artist_id)
        if comp is not None:
            names += (comp.name, *comp.aliases)
        if want in {_norm(n) for n in names}:
            return c
    root = corpus_root()
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    for folder in folders:
        if _norm(folder) == want:
            return Collection(folder, folder, slug(folder), folder, "music21 corpus", _M21)
    raise ValueError(
        f"unknown collection {name!r}; choose from {sorted(COLLECTIONS)} "
        f"or a music21 corpus folder {folders}"
    )
