"""Deterministic arrangements: General MIDI programs per part and a tempo, per form and era.

An arrangement is drawn from a ``random.Random`` seeded by (seed, work id), so the same
build arguments always give the same instruments and tempo, and adding a collection does
not reshuffle the others. Instrument sets are plausible for the form (a chorale on organ,
choir, strings, brass or woodwinds; a reel on fiddle, flute, accordion, whistle or banjo;
a rag on piano; a piano trio on violin, cello and piano). The chosen programs and
tempo are the ground truth of the ``instrument``, ``ensemble``, ``vocal`` and ``tempo``
attributes. Parts are mapped in score order (top staff first): the first part gets the
set's first program, the last part its last, middle parts in between.

>>> a = arrange("bach-bwv66.6", form="chorale", n_parts=4, beat_ql=1.0, seed=0)[0]
>>> a.tempo_band in ("slow", "moderate", "fast"), len(a.programs)
(True, 4)
"""
from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass

__all__ = ["Arrangement", "GM_NAMES", "arrange", "ensemble_of", "tempo_band"]

#: Readable names of the General MIDI programs (0-based) the arrangements use.
GM_NAMES: dict[int, str] = {
    0: "piano", 3: "honky-tonk piano", 6: "harpsichord", 19: "organ", 21: "accordion",
    40: "violin", 41: "viola", 42: "cello", 46: "harp", 48: "strings", 52: "choir", 53: "voice",
    56: "trumpet", 57: "trombone", 58: "tuba", 60: "french horn", 68: "oboe", 70: "bassoon",
    71: "clarinet", 73: "flute", 74: "recorder", 78: "whistle", 105: "banjo", 110: "fiddle",
}
_KEYBOARDS = {0, 3, 6, 19, 21, 46}  # keyboards and harp: one player takes several staves

# (label, programs top→bottom, weight); the first rendition favours higher weights.
_Opt = tuple[str, tuple[int, ...], int]
_SETS: dict[str, tuple[_Opt, ...]] = {
    "chorale": (("organ", (19,), 3), ("choir", (52,), 3), ("strings", (40, 40, 41, 42), 2),
                ("brass", (56, 60, 57, 58), 1), ("woodwinds", (73, 68, 71, 70), 1)),
    "renaissance": (("choir", (52,), 4), ("viols", (40, 41, 41, 42), 2), ("recorders", (74,), 2), ("organ", (19,), 1)),
    "trio sonata": (("strings", (40, 40, 42), 3), ("violins and harpsichord", (40, 40, 6), 2),
                    ("flutes and cello", (73, 73, 42), 1), ("violins and organ", (40, 40, 19), 1)),
    "string quartet": (("string quartet", (40, 40, 41, 42), 5), ("wind quartet", (73, 68, 71, 70), 1),
                       ("string orchestra", (48,), 1)),
    "sonata": (("piano", (0,), 3), ("harpsichord", (6,), 1)),
    "aria": (("voice and strings", (53, 48), 3), ("voice and harpsichord", (53, 6), 1), ("flute and strings", (73, 48), 1)),
    "lied": (("voice and piano", (53, 0), 3), ("cello and piano", (42, 0), 1), ("violin and piano", (40, 0), 1)),
    "mazurka": (("piano", (0,), 4), ("accordion", (21,), 1), ("harp", (46,), 1)),
    "rag": (("piano", (0,), 4), ("honky-tonk piano", (3,), 2), ("accordion", (21,), 1)),
    "dance tune": (("fiddle", (110,), 4), ("flute", (73,), 2), ("accordion", (21,), 2), ("whistle", (78,), 1), ("banjo", (105,), 1)),
    "air": (("fiddle", (110,), 2), ("flute", (73,), 2), ("harp", (46,), 2), ("whistle", (78,), 1)),
    "piano piece": (("piano", (0,), 4), ("harp", (46,), 1), ("string orchestra", (48,), 1)),
    "piano trio": (("piano trio", (40, 42, 0, 0), 4), ("flute, cello and piano", (73, 42, 0, 0), 1),
                   ("violin, cello and harp", (40, 42, 46, 46), 1)),
    "concertino": (("clarinet and piano", (71, 0), 4), ("flute and piano", (73, 0), 1), ("violin and piano", (40, 0), 1)),
    "choral": (("choir", (52,), 4), ("organ", (19,), 2), ("strings", (40, 40, 41, 42), 1), ("brass", (56, 60, 57, 58), 1)),
    "choir and piano": (("choir and piano", (52, 52, 52, 52, 0, 0), 4), ("choir and organ", (52, 52, 52, 52, 19, 19), 1),
                        ("strings and piano", (40, 40, 41, 42, 0, 0), 1)),
    "other": (("strings", (48,), 2), ("piano", (0,), 2), ("organ", (19,), 1)),
}
_FORM_SET = {
    "chorale": "chorale", "mass movement": "renaissance", "madrigal": "renaissance", "chanson": "renaissance",
    "lament": "renaissance", "motet": "renaissance", "trio sonata": "trio sonata", "string quartet": "string quartet",
    "sonata": "sonata", "aria": "aria", "lied": "lied", "mazurka": "mazurka", "rag": "rag", "air": "air",
    "planxty": "air", "canon": "renaissance", "polonaise": "piano piece", "piano trio": "piano trio",
    "concertino": "concertino", "song": "choral", "part-song": "choir and piano",
    **{f: "dance tune" for f in ("reel", "jig", "slip jig", "hornpipe", "strathspey", "clog", "fling",
                                 "polka", "march", "set dance", "waltz", "schottische", "tune", "slide",
                                 "minuet", "gavotte")},
}
# Beat-per-minute ranges (the beat: quarter, half in 2/2 and 4/2, dotted quarter in 6/8...).
_FORM_TEMPO: dict[str, tuple[int, int]] = {
    "chorale": (60, 74), "mass movement": (60, 72), "chanson": (60, 72), "motet": (60, 72), "lament": (48, 60),
    "madrigal": (76, 92), "aria": (44, 56), "lied": (60, 72), "mazurka": (126, 150), "rag": (84, 100),
    "reel": (110, 124), "jig": (108, 122), "slip jig": (108, 120), "hornpipe": (84, 100), "strathspey": (92, 104),
    "clog": (84, 100), "fling": (92, 104), "polka": (110, 124), "march": (96, 106), "set dance": (90, 104),
    "air": (54, 70), "waltz": (120, 140), "schottische": (92, 104), "sonata": (112, 132),
    "planxty": (92, 108), "slide": (110, 124), "minuet": (100, 116), "gavotte": (84, 100), "canon": (72, 88),
    "polonaise": (84, 100), "piano trio": (66, 80), "concertino": (66, 80), "song": (66, 80), "part-song": (60, 72),
}
_WORD_TEMPO: tuple[tuple[str, tuple[int, int]], ...] = (
    (r"prestissimo|presto", (150, 172)),
    (r"grave|largo|lento|adagio|langsam", (44, 60)),
    (r"larghetto|andante", (66, 80)),
    (r"allegretto|menuett?o?|minuet(?:to)?|moderato|ländler", (100, 116)),
    (r"allegro|vivace|scherzo|rasch|schnell|spirit(?:ed)?|lively|quick|fast", (120, 148)),
    (r"\bslow\b", (54, 70)),
    (r"\bmoderate\b", (84, 100)),
)
_FELT_IN_TWO = {"reel", "hornpipe", "clog"}  # written in 4/4 but felt in 2


@dataclass(frozen=True)
class Arrangement:
    """One rendition: ``programs[i]`` is the GM program of part ``i`` (score order);
    ``bpm`` is quarter notes per minute written to the MIDI file; ``beat_bpm`` is the felt
    beat rate that ``tempo_band`` is taken from."""

    label: str
    programs: tuple[int, ...]
    bpm: float
    beat_bpm: int
    tempo_band: str

    @property
    def instruments(self) -> tuple[str, ...]:
        """Distinct readable instrument names, in part order."""
        return tuple(dict.fromkeys(GM_NAMES[p] for p in self.programs))


def tempo_band(beat_bpm: float) -> str:
    """slow (< 76 beats/min), moderate (76–107), fast (≥ 108)."""
    return "slow" if beat_bpm < 76 else "moderate" if beat_bpm < 108 else "fast"


def ensemble_of(programs: tuple[int, ...]) -> str:
    """Ensemble word for a set of part programs: solo, duo, trio, quartet, choir, ..."""
    distinct = set(programs)
    if 52 in distinct:  # a choir, a cappella or accompanied
        return "choir"
    if 48 in distinct and len(distinct) == 1:
        return "string orchestra"
    if len(distinct) == 1 and (len(programs) == 1 or distinct <= _KEYBOARDS):
        return "solo"
    n = len(programs) if not (set(programs) & _KEYBOARDS) else len(set(programs))
    return {1: "solo", 2: "duo", 3: "trio", 4: "quartet", 5: "quintet"}.get(n, "ensemble")


def _rng(seed: int, work_id: str, salt: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{work_id}:{salt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _tempo_range(form: str | None, words: str) -> tuple[int, int]:
    for pattern, rng in _WORD_TEMPO:
        if re.search(rf"\b(?:{pattern})\b", words, re.I):  # whole words: "Gravel Walk" is no Grave
            return rng
    return _FORM_TEMPO.get(form or "", (80, 104))


def arrange(work_id: str, *, form: str | None, n_parts: int, beat_ql: float,
            seed: int, renditions: int = 1, tempo_words: str = "", meter: str | None = None) -> list[Arrangement]:
    """``renditions`` arrangements with different instrument sets for one work.

    ``beat_ql`` is the beat in quarter notes from the meter; ``tempo_words`` are tempo
    marks/titles of the score ("Allegro", "Slow") that override the form's tempo range;
    ``meter`` ("4/4") marks reels and hornpipes written in 4/4, which are felt in two.
    """
    if n_parts < 1:
        raise ValueError(f"a work needs at least one part, got {n_parts}")
    options = list(_SETS[_FORM_SET.get(form or "", "other")])
    rng = _rng(seed, work_id, "arrangement")
    chosen: list[_Opt] = []
    for _ in range(min(renditions, len(options))):
        pick = rng.choices(options, weights=[w for *_, w in options])[0]
        chosen.append(pick)
        options.remove(pick)
    lo, hi = _tempo_range(form, tempo_words)
    beat_bpm = _rng(seed, work_id, "tempo").randint(lo, hi)  # one tempo per work: renditions differ in timbre
    felt = 2.0 if (form in _FELT_IN_TWO and meter == "4/4") else beat_ql
    out = []
    for label, progs, _ in chosen:
        # score order is top staff first; ceil keeps the top part alone on the lead program
        programs = tuple(progs[0 if n_parts == 1 else math.ceil(r * (len(progs) - 1) / (n_parts - 1) - 1e-9)]
                         for r in range(n_parts))
        out.append(Arrangement(label, programs, round(beat_bpm * felt, 3), beat_bpm, tempo_band(beat_bpm)))
    return out
