"""Process one work end to end: parse → analyse → arrange → MIDI → cached FLAC renditions.

This is the unit of parallel work (a top-level function of picklable arguments, so a
process pool can run it). A work that fails to parse or has no notes is reported, not
raised, so one bad encoding does not stop a build.
"""
from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from kgjemb.demo.analyse import analyse
from kgjemb.demo.arrange import arrange
from kgjemb.demo.corpus import Work, load_score
from kgjemb.demo.midi import excerpt_midi
from kgjemb.demo.render import RenderConfig, cache_key, render_cached
from kgjemb.demo.sources import slug

__all__ = ["Rendition", "WorkResult", "process_work", "wants_second_rendition"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendition:
    """One rendered track of a work (the ground truth of its instrument/tempo attributes)."""

    track_id: str
    label: str
    programs: tuple[int, ...]
    instruments: tuple[str, ...]
    bpm: float
    beat_bpm: int
    tempo_band: str
    audio_path: str
    audio_sha256: str
    cache_key: str


@dataclass(frozen=True)
class WorkResult:
    """Everything the tables need from one work; ``error`` is set when it was skipped."""

    work: Work
    title: str = ""
    key: str | None = None
    mode: str | None = None
    meter: str | None = None
    texture: str | None = None
    part_names: tuple[str, ...] = ()
    renditions: tuple[Rendition, ...] = ()
    rendered: int = 0
    error: str | None = None
    extra: dict = field(default_factory=dict)


def wants_second_rendition(seed: int, work_id: str, rate: float) -> bool:
    """Deterministic coin flip: does this work get a second rendition (VERSION_OF)?"""
    digest = hashlib.sha256(f"{seed}:{work_id}:versions".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).random() < rate


def process_work(work: Work, *, out_dir: str, cache_dir: str, seconds: float, seed: int,
                 version_rate: float, sample_rate: int = 22050) -> WorkResult:
    """Render ``work`` into ``out_dir/audio/`` (one or two renditions) and describe it."""
    try:
        score = load_score(work)
        a = analyse(score, work)
        if not a.parts:
            return WorkResult(work, error="score has no notes")
        n = 2 if wants_second_rendition(seed, work.work_id, version_rate) else 1
        arrangements = arrange(work.work_id, form=work.form_hint, n_parts=len(a.parts), beat_ql=a.beat_ql,
                               seed=seed, renditions=n, meter=a.meter,
                               tempo_words=f"{a.tempo_words} {work.tempo_hint or ''} {work.title}")
        cfg = RenderConfig(sample_rate=sample_rate)
        out, rendered = [], 0
        for i, arr in enumerate(arrangements):
            track_id = work.work_id if i == 0 else f"{work.work_id}~{slug(arr.label)}"
            midi = excerpt_midi(a.parts, programs=arr.programs, bpm=arr.bpm, excerpt_ql=seconds * arr.bpm / 60.0)
            rel = f"audio/{track_id}.flac"
            dest = Path(out_dir) / rel
            rendered += render_cached(midi, seconds, dest, Path(cache_dir), cfg)
            sha = hashlib.sha256(dest.read_bytes()).hexdigest()
            out.append(Rendition(track_id, arr.label, arr.programs, arr.instruments, arr.bpm, arr.beat_bpm,
                                 arr.tempo_band, rel, sha, cache_key(midi, seconds, cfg)))
        return WorkResult(work, a.title, a.key, a.mode, a.meter, a.texture, a.part_names, tuple(out), rendered)
    except Exception as err:  # one bad encoding must not stop a build; reported in the manifest
        logger.warning("skipping %s (%s): %s", work.work_id, work.path, err)
        return WorkResult(work, error=f"{type(err).__name__}: {err}")

