"""Readable titles, albums and forms for the small composer collections.

The corpus names these files ``haydn/opus1no1/movement1.mxl`` and their metadata often
holds only the file name, so the titles are derived from the path with a few curated,
well-known facts (work type per opus, a handful of standard nicknames). Single-work
folders take their titles from the score's own title/credit lines. Monteverdi madrigals
are known by their first words: the encodings' lyrics are OCR text ("Ea gio-vi-net-ta
pian-ta") and their metadata mostly the file name, so :data:`MONTEVERDI_INCIPITS` holds the
standard spelling of the incipit that each score's underlaid text begins with.

>>> describe("beethoven/opus18no1/movement2.mxl")
('String Quartet Op. 18 No. 1: II', 'String Quartet Op. 18 No. 1', 'string quartet')
"""
from __future__ import annotations

import re

__all__ = ["ALBUM_YEARS", "MONTEVERDI_INCIPITS", "describe", "roman", "SKIP_PATHS"]

#: Year of composition/publication for albums whose date is a settled fact (album id →
#: year); others stay blank rather than guessed. Palestrina masses carry their printed
#: year in the Humdrum title ("Missa Ave Maria (1596)") and are read from it.
ALBUM_YEARS: dict[str, int] = {
    "bach-bwv244": 1727, "bach-bwv245": 1724, "bach-bwv248": 1734,
    "handel-rinaldo": 1711, "corelli-trio-sonatas-op-3": 1689,
    "haydn-string-quartet-op-74-no-1": 1793,
    "mozart-string-quartet-k-80": 1770, "mozart-string-quartet-k-155": 1772, "mozart-string-quartet-k-156": 1772,
    "mozart-string-quartet-k-458-the-hunt": 1784, "mozart-piano-sonata-k-545-sonata-facile": 1788,
    "beethoven-string-quartet-op-59-no-1-razumovsky": 1806, "beethoven-string-quartet-op-59-no-2-razumovsky": 1806,
    "beethoven-string-quartet-op-59-no-3-razumovsky": 1806, "beethoven-string-quartet-op-74-harp": 1809,
    "beethoven-string-quartet-op-132": 1825, "beethoven-grosse-fuge-op-133": 1825,
    "schumann-robert-string-quartet-op-41-no-1": 1842, "schumann-robert-dichterliebe-op-48": 1840,
    "chopin-mazurkas-op-6": 1832, "joplin-maple-leaf-rag": 1899,
    "monteverdi-third-book-of-madrigals": 1592, "monteverdi-fourth-book-of-madrigals": 1603,
    "monteverdi-fifth-book-of-madrigals": 1605, "ryans-mammoth": 1883,
    "schubert-winterreise-d-911": 1827, "schumann-clara-four-polonaises-op-1": 1831,
    "schumann-clara-piano-trio-in-g-minor-op-17": 1846, "weber-clarinet-concertino-op-26": 1811,
    "liliuokalani-aloha-oe": 1878, "beach-prayer-of-a-tired-child-op-75-no-4": 1915,
    "johnson-j-r-lift-every-voice-and-sing": 1900,
}

#: Duplicate encodings left out (the same song exists as schumann_robert/opus48no2.mxl).
SKIP_PATHS: frozenset[str] = frozenset({"schumann_robert/dichterliebe_no2.xml", "monteverdi/madrigal.3.1_old.mxl"})

_NICKNAMES = {
    ("mozart", "k458"): "'The Hunt'",
    ("beethoven", "opus59no1"): "'Razumovsky'",
    ("beethoven", "opus59no2"): "'Razumovsky'",
    ("beethoven", "opus59no3"): "'Razumovsky'",
    ("beethoven", "opus74"): "'Harp'",
    ("mozart", "k545"): "'Sonata facile'",
}
_JOSQUIN = {
    "adieuMesAmours": ("Adieu mes amours", "chanson"),
    "milleRegrets": ("Mille regrets", "chanson"),
    "petiteCamusette": ("Petite camusette", "chanson"),
    "laPlusDesPlus": ("La plus des plus", "chanson"),
    "laDeplorationDeLaMorteDeJohannesOckeghem": ("La déploration sur la mort de Johannes Ockeghem", "lament"),
    "fortunaDunGranTempo": ("Fortuna d'un gran tempo", None),
    "oVenusBant": ("O Venus bant", None),
    "4vPerIlludAveProlatum": ("Per illud ave prolatum", None),
}


#: (book, number) → incipit, read from each score's underlaid text (5.5 has no lyrics; its
#: movement name gives the incipit). Book 3 No. 14 has no text in the encoding: left out.
#: 4.4's text starts at "stelle un infermo d'amore" (the first words are not underlaid).
MONTEVERDI_INCIPITS: dict[tuple[int, int], str] = {
    (3, 1): "La giovinetta pianta", (3, 2): "O come è gran martire", (3, 3): "Sovra tenere herbette",
    (3, 4): "O dolce anima mia", (3, 5): "Stracciami pur il core",
    (3, 6): "O rossignuol ch'in queste verdi fronde", (3, 7): "Se per estremo ardore",
    (3, 8): "Vattene pur, crudel, con quella pace", (3, 9): "Là tra 'l sangue e le morti egro giacente",
    (3, 10): "Poi ch'ella in sé tornò", (3, 11): "O primavera, gioventù de l'anno", (3, 12): "Perfidissimo volto",
    (3, 13): "Ch'io non t'ami, cor mio", (3, 15): "Vivrò fra i miei tormenti e le mie cure",
    (3, 16): "Ma dove, o lasso me", (3, 17): "Io pur verrò là dove sete", (3, 18): "Lumi, miei cari lumi",
    (3, 19): "Rimanti in pace", (3, 20): "Ond'ei, di morte la sua faccia impressa",
    (4, 1): "Ah, dolente partita", (4, 2): "Cor mio, mentre vi miro", (4, 3): "Cor mio, non mori? E mori!",
    (4, 4): "Sfogava con le stelle", (4, 5): "Volgea l'anima mia soavemente", (4, 6): "Anima mia, perdona",
    (4, 7): "Che se tu se' il cor mio", (4, 8): "Luci serene e chiare", (4, 9): "La piaga c'ho nel core",
    (4, 10): "Voi pur da me partite", (4, 11): "A un giro sol de' begli occhi lucenti",
    (4, 12): "Ohimè, se tanto amate", (4, 13): "Io mi son giovinetta", (4, 14): "Quell'augellin che canta",
    (4, 15): "Non più guerra, pietate", (4, 16): "Sì ch'io vorrei morire", (4, 17): "Anima dolorosa",
    (4, 18): "Anima del cor mio", (4, 19): "Longe da te, cor mio", (4, 20): "Piagn'e sospira",
    (5, 1): "Cruda Amarilli", (5, 2): "O Mirtillo, Mirtill'anima mia", (5, 3): "Era l'anima mia",
    (5, 4): "Ecco, Silvio, colei ch'in odio hai tanto", (5, 5): "Ma se con la pietà non è in te spenta",
    (5, 6): "Dorinda, ah dirò mia", (5, 7): "Ecco, piegando le ginocchia a terra", (5, 8): "Ferir quel petto, Silvio?",
}

#: Single-work folders: corpus path → (title, album, form), from each score's title and
#: credit lines plus the work's standard catalogue facts (Winterreise No. 5; Clara
#: Schumann's Op. 1 polonaises, Hofmeister 1831; her Op. 17 trio's third movement, Andante).
_SINGLE_WORKS: dict[str, tuple[str, str, str]] = {
    "cpebach/h186.mxl": ("Sonata in A major, Wq. 55/4: II. Poco adagio", "Sonata in A major, Wq. 55/4 (H. 186)",
                         "sonata"),
    "schubert/Lindenbaum.xml": ("Der Lindenbaum", "Winterreise, D. 911", "lied"),
    "schumann_clara/polonaise_op1n1.mxl": ("Polonaise in E-flat major, Op. 1 No. 1", "Four Polonaises, Op. 1", "polonaise"),
    "schumann_clara/polonaise_op1n2.mxl": ("Polonaise in C major, Op. 1 No. 2", "Four Polonaises, Op. 1", "polonaise"),
    "schumann_clara/polonaise_op1n3.mxl": ("Polonaise in D major, Op. 1 No. 3", "Four Polonaises, Op. 1", "polonaise"),
    "schumann_clara/polonaise_op1n4.mxl": ("Polonaise in C major, Op. 1 No. 4", "Four Polonaises, Op. 1", "polonaise"),
    "schumann_clara/opus17/movement3.xml": ("Piano Trio in G minor, Op. 17: III. Andante", "Piano Trio in G minor, Op. 17",
                                            "piano trio"),
    "weber/concertino_clarinet.mxl": ("Clarinet Concertino, Op. 26 (clarinet and piano)", "Clarinet Concertino, Op. 26",
                                      "concertino"),
    "ciconia/quod_jactatur.xml": ("Quod jactatur (canon, melody only)", "Quod jactatur", "canon"),
    "luca/gloria.xml": ("Gloria (Q15)", "Gloria, Q15", "mass movement"),
    "lusitano/allor_che_ignuda.mxl": ("Allor che ignuda d'herb et fior la terra", "Primo libro delle Muse (1562)",
                                      "madrigal"),
    "liliuokalani/aloha_oe.mxl": ("Aloha Oe", "Aloha Oe", "song"),
    "beach/prayer_of_a_tired_child.musicxml": ("Prayer of a Tired Child", "Prayer of a Tired Child, Op. 75 No. 4",
                                               "part-song"),
    "johnson_j_r/lift_every_voice.mxl": ("Lift Every Voice and Sing", "Lift Every Voice and Sing", "song"),
}


def roman(n: int) -> str:
    """Roman numeral of a movement number (1..39)."""
    out = ""
    for value, sym in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out += sym
            n -= value
    return out


def _opus(stem: str) -> str:
    m = re.match(r"opus(\d+)(?:no(\d+))?", stem)
    if not m:
        return stem
    return f"Op. {m.group(1)}" + (f" No. {m.group(2)}" if m.group(2) else "")


def _movement(stem: str) -> str:
    m = re.match(r"movement(\d+)(?:_(\w+))?", stem)
    if not m:
        return stem
    return roman(int(m.group(1))) + (f" ({m.group(2)})" if m.group(2) else "")


def describe(path: str) -> tuple[str, str, str | None] | None:
    """(track title, album title, form or None) for a corpus path of the small composer
    collections; None for paths this table does not know (callers fall back to
    metadata and file names)."""
    if path in _SINGLE_WORKS:
        return _SINGLE_WORKS[path]
    parts = path.split("/")
    folder, stem = parts[0], re.sub(r"\.(mxl|xml|krn|abc|musicxml)$", "", parts[-1])
    sub = parts[1] if len(parts) > 2 else None
    if folder in ("haydn", "beethoven", "schumann_robert") and (sub or stem).startswith("opus"):
        opus_stem = sub or stem
        if folder == "schumann_robert" and opus_stem == "opus48no2":
            return "Aus meinen Tränen sprießen", "Dichterliebe, Op. 48", "lied"
        if folder == "beethoven" and opus_stem == "opus133":
            return "Grosse Fuge, Op. 133", "Grosse Fuge, Op. 133", "string quartet"
        nick = _NICKNAMES.get((folder, opus_stem))
        album = f"String Quartet {_opus(opus_stem)}" + (f" {nick}" if nick else "")
        title = f"{album}: {_movement(stem)}" if sub else album
        return title, album, "string quartet"
    if folder == "mozart" and sub:
        k = sub.upper().replace("K", "K. ")
        nick = _NICKNAMES.get((folder, sub))
        kind, form = ("Piano Sonata", "sonata") if sub == "k545" else ("String Quartet", "string quartet")
        album = f"{kind} {k}" + (f" {nick}" if nick else "")
        return f"{album}: {_movement(stem)}", album, form
    if folder == "corelli":
        m = re.match(r"(\d+)(\w+)", stem)
        mv = f"{roman(int(m.group(1)))}. {m.group(2).capitalize()}" if m else stem
        return f"Trio Sonata {_opus(sub or '')}: {mv}", f"Trio Sonatas {_opus(sub or '').split(' No.')[0]}", "trio sonata"
    if folder == "handel" and stem == "Lascia_chio_pianga":
        return "Lascia ch'io pianga", "Rinaldo", "aria"
    if folder == "chopin":
        m = re.match(r"mazurka(\d+)-(\d+)", stem)
        if m:
            return (f"Mazurka Op. {int(m.group(1))} No. {m.group(2)}", f"Mazurkas, Op. {int(m.group(1))}", "mazurka")
    if folder == "joplin" and stem == "maple_leaf_rag":
        return "Maple Leaf Rag", "Maple Leaf Rag", "rag"
    if folder == "josquin" and stem in _JOSQUIN:
        title, form = _JOSQUIN[stem]
        return title, "Chansons and motets", form
    if folder == "monteverdi":
        m = re.match(r"madrigal\.(\d+)\.(\d+)", stem)
        if m:
            book = int(m.group(1))
            names = {3: "Third", 4: "Fourth", 5: "Fifth"}
            album = f"{names.get(book, str(book) + 'th')} Book of Madrigals"
            incipit = MONTEVERDI_INCIPITS.get((book, int(m.group(2))))
            return incipit or f"Madrigal {book}.{m.group(2)}", album, "madrigal"
    return None
