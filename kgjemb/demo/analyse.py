"""Read what a parsed score reliably says: notes per part, key, mode, meter, texture, title.

Only attributes that the score states or that follow from its form are kept: the key and
mode come from a one-movement title that states them ("Polonaise in C major"), else from
an explicit key (ABC ``K:``, Humdrum ``*G:mix``, MusicXML ``<mode>``) and otherwise from
music21's Krumhansl estimate; the meter is the first time signature;
texture is "monophonic" for a single chordless line, else the conventional texture of the
form (chorale → homophonic, mass movement → polyphonic), and left out when unknown.

>>> from kgjemb.demo.corpus import discover, load_score
>>> w = [w for w in discover("bach", limit=0) if w.work_id == "bach-bwv66.6"][0]
>>> a = analyse(load_score(w), w)
>>> a.key, a.mode, a.meter
('F# minor', 'minor', '4/4')
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from kgjemb.demo.corpus import Work

__all__ = ["Analysis", "NoteEvent", "analyse", "key_name"]

logger = logging.getLogger(__name__)

#: (onset in quarter notes, duration in quarter notes, MIDI pitch, velocity)
NoteEvent = tuple[float, float, int, int]

_FORM_TEXTURE = {
    "chorale": "homophonic", "mass movement": "polyphonic", "madrigal": "polyphonic",
    "chanson": "polyphonic", "lament": "polyphonic", "motet": "polyphonic", "aria": "homophonic",
    "lied": "homophonic", "rag": "homophonic", "mazurka": "homophonic", "polonaise": "homophonic",
    "song": "homophonic",
}
_MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "aeolian", "locrian", "ionian")


@dataclass(frozen=True)
class Analysis:
    """What the builder keeps from one score. ``parts`` holds note events per part in
    score order; ``length_ql`` is the score's length in quarter notes."""

    title: str
    parts: tuple[tuple[NoteEvent, ...], ...]
    part_names: tuple[str, ...]
    length_ql: float
    key: str | None
    mode: str | None
    meter: str | None
    texture: str | None
    beat_ql: float
    tempo_words: str = ""


def key_name(tonic: str, mode: str) -> str:
    """``("B-", "major")`` → ``"Bb major"`` (music21 spells flats with ``-``)."""
    return f"{tonic.replace('-', 'b')} {mode}"


def _events(part, max_ql: float) -> tuple[NoteEvent, ...]:
    """Note events of ``part`` up to ``max_ql``, tied notes merged (music21's stripTies
    deep-copies the part and takes ~20 s on a quartet movement; this takes milliseconds)."""
    out: list[list] = []
    pending: dict[int, int] = {}  # pitch → index of the event a tie continues
    for n in part.flatten().notes:
        dur = float(n.duration.quarterLength)
        on = float(n.offset)
        if dur <= 0:  # grace notes
            continue
        if on >= max_ql:
            break
        vel = n.volume.velocity if n.volume.velocityIsRelative is False and n.volume.velocity else 80
        for sub in (n.notes if n.isChord else (n,)):
            pitch = int(sub.pitch.midi)
            tie = (sub.tie or n.tie).type if (sub.tie or n.tie) is not None else None
            idx = pending.get(pitch)
            if tie in ("stop", "continue") and idx is not None and abs(out[idx][0] + out[idx][1] - on) < 1e-6:
                out[idx][1] += dur
                if tie == "stop":
                    del pending[pitch]
                continue
            out.append([on, dur, pitch, int(vel)])
            if tie == "start":
                pending[pitch] = len(out) - 1
            else:
                pending.pop(pitch, None)
    return tuple(sorted((a, b, c, d) for a, b, c, d in out))


def _estimate_key(score):
    """music21's key estimate (``score.analyze("key")``), computed on a 12-note summary.

    The estimate only reads how long each pitch class sounds (quarter lengths summed over
    every note of the flattened score); analysing the score itself flattens it twice and
    takes ~70 % of :func:`analyse`. The summary — one note per pitch class that sounds,
    lasting that total — gives the estimator the same distribution, so the same key
    (pitch classes of grace notes only are left out: they add 0 to the distribution, and a
    note of length 0 would become a quarter note). None when nothing sounds or the
    estimate fails.
    """
    from music21 import note, pitch, stream
    from music21.analysis.discrete import AardenEssen
    from music21.key import Key

    totals: dict[int, float] = {}
    for part in score.parts:
        for n in part.flatten().notes:
            length = n.quarterLength
            for p in n.pitches:
                totals[p.pitchClass] = totals.get(p.pitchClass, 0) + length
    totals = {pc: length for pc, length in totals.items() if length > 0}
    if not totals:
        return None
    summary = stream.Stream()
    for pc in sorted(totals):
        summary.append(note.Note(pitch.Pitch(pc), quarterLength=totals[pc]))
    try:
        # what analyze("key") runs (Aarden-Essen weights), less its 23 alternative keys: it
        # builds a Key, with its scale, for each (~90 % of the estimate's time)
        (tonic, mode, coefficient), _ = AardenEssen().process(summary.flatten())
    except Exception as err:  # a degenerate distribution
        logger.debug("key analysis failed: %s", err)
        return None
    best = Key(tonic=tonic, mode=mode)
    best.correlationCoefficient = coefficient
    return best


def _key(score, work: Work, events: tuple[tuple[NoteEvent, ...], ...]) -> tuple[str | None, str | None]:
    """Key and mode. Between a key and its relative (same signature), the one whose tonic is
    the final bass note wins (pieces end on the tonic); otherwise an explicit ABC/Humdrum
    key is trusted and MusicXML's (often defaulted) ``<mode>`` yields to the estimate."""
    from music21 import key as m21key

    explicit = next(iter(score.recurse().getElementsByClass(m21key.Key)), None)
    est = _estimate_key(score)
    k = explicit if explicit is not None else est
    if k is None or k.mode not in _MODES:
        return None, None
    if k.mode in ("major", "minor"):
        candidates = [k, k.relative]
        last = [max(ev, key=lambda e: (e[0] + e[1], -e[2])) for ev in events if ev]
        final_bass = min(last, key=lambda e: e[2])[2] % 12 if last else None
        by_final = [c for c in candidates if c.tonic.pitchClass == final_bass]
        if len(by_final) == 1:
            k = by_final[0]
        elif explicit is not None and est is not None and work.path.endswith((".mxl", ".xml", ".musicxml")) \
                and est.sharps == explicit.sharps:
            k = est
    mode = "major" if k.mode == "ionian" else "minor" if k.mode == "aeolian" else k.mode
    return key_name(k.tonic.name, mode), mode


def _title_key(title: str) -> tuple[str, str] | None:
    """The key a one-movement title states ("Polonaise in C major, Op. 1 No. 4"); None for
    a movement of a larger work ("Sonata in A major: II. ...": the movement may differ)."""
    m = re.search(r"\bin ([A-G])(?:[- ](flat|sharp))? (major|minor)\b", title)
    if not m or ":" in title:
        return None
    tonic = m.group(1) + {"flat": "-", "sharp": "#"}.get(m.group(2) or "", "")
    return key_name(tonic, m.group(3)), m.group(3)


def _meter(score) -> tuple[str | None, float]:
    from music21 import meter

    ts = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)), None)
    if ts is None:
        return None, 1.0
    num, den = ts.numerator, ts.denominator
    if den == 8 and num in (6, 9, 12):
        return ts.ratioString, 1.5  # compound: the beat is a dotted quarter
    return ts.ratioString, 4.0 / den


def _incipit(part) -> str | None:
    """First line of a clean sung text (a chorale movement is known by its text incipit)."""
    from music21 import text

    try:
        lyrics = text.assembleLyrics(part) or ""
    except Exception:  # music21 raises on odd lyric encodings; the title falls back
        return None
    first = re.split(r"[,.;:!?]", lyrics, maxsplit=1)[0].strip()
    words = first.split()
    if not 2 <= len(words) <= 12 or not re.fullmatch(r"[A-Za-zÄÖÜäöüßÉéèÈ' ]+", first):
        return None
    return first


def _title(score, work: Work) -> str:
    md = score.metadata
    movement = (md.movementName or "") if md is not None else ""
    if work.collection == "bach" and work.title.startswith("Chorale BWV") and len(score.parts):
        incipit = _incipit(score.parts[0])
        if incipit:
            return f"{incipit} ({work.title.removeprefix('Chorale ')})"
    if work.collection == "monteverdi" and work.title.startswith("Madrigal "):  # no curated incipit
        m = re.match(r"^\s*\d+\.\s*(.+?)\s*$", movement)
        if m:
            name = m.group(1).strip().lower()
            return name[:1].upper() + name[1:]
    return work.title


def analyse(score, work: Work, *, max_ql: float = 512.0) -> Analysis:
    """Analyse a parsed score of ``work`` (see module docs for what is kept and why).
    Note events are kept for the first ``max_ql`` quarter notes (default 512, far more than
    any excerpt needs)."""
    per_part = [(str(p.partName or f"part {i + 1}"), _events(p, max_ql)) for i, p in enumerate(score.parts)]
    per_part = [(name, ev) for name, ev in per_part if ev]
    events = tuple(ev for _, ev in per_part)
    names = tuple(name for name, _ in per_part)
    length = max((e[-1][0] + e[-1][1] for e in events), default=0.0)
    key, mode = _title_key(work.title) or _key(score, work, events)
    meter_str, beat = _meter(score)
    chords = any(len({on for on, *_ in ev}) < len(ev) for ev in events)
    if len(events) == 1 and not chords:
        texture = "monophonic"
    else:
        texture = _FORM_TEXTURE.get(work.form_hint or "")
    words = " ".join(sorted({str(t.text) for t in score.recurse().getElementsByClass("TempoIndication")
                             if getattr(t, "text", None)}))
    return Analysis(_title(score, work), events, names, float(length), key, mode, meter_str, texture, beat,
                    tempo_words=words)
