"""A minimal, deterministic Standard MIDI File writer for rendering excerpts.

music21's own MIDI export keeps the score's tempo marks and generic instruments; here each
part gets exactly the GM program the arrangement chose, one constant tempo (the ground
truth of the tempo attribute), and the notes of the first ``excerpt_ql`` quarter notes,
repeating the piece from the top if it is shorter (dance tunes are played through again).

>>> data = excerpt_midi([((0.0, 1.0, 60, 80),)], programs=(19,), bpm=90.0, excerpt_ql=4.0)
>>> data[:4]
b'MThd'
"""
from __future__ import annotations

import struct

__all__ = ["TICKS_PER_QUARTER", "excerpt_midi"]

TICKS_PER_QUARTER = 480
_CHANNELS = [c for c in range(16) if c != 9]  # channel 10 is percussion


def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, int, bytes]]) -> bytes:
    """events: (tick, order, message bytes) → MTrk chunk with delta times."""
    body, last = bytearray(), 0
    for tick, _, msg in sorted(events):
        body += _varlen(tick - last) + msg
        last = tick
    body += _varlen(0) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def excerpt_midi(parts, *, programs: tuple[int, ...], bpm: float, excerpt_ql: float) -> bytes:
    """SMF type-1 bytes: one track per part on its own channel with its program.

    ``parts[i]`` is a sequence of (onset_ql, duration_ql, pitch, velocity); notes starting
    at or after ``excerpt_ql`` are dropped and the last ones cut at it.
    """
    if len(programs) != len(parts):
        raise ValueError(f"{len(parts)} parts but {len(programs)} programs")
    if bpm <= 0 or excerpt_ql <= 0:
        raise ValueError(f"bpm and excerpt length must be positive, got {bpm}, {excerpt_ql}")
    length = max((on + dur for ev in parts for on, dur, *_ in ev), default=0.0)
    if length <= 0:
        raise ValueError("the score has no notes")
    tempo_us = round(60_000_000 / bpm)
    tracks = [_track([(0, 0, b"\xff\x51\x03" + tempo_us.to_bytes(3, "big"))])]
    end_tick = round(excerpt_ql * TICKS_PER_QUARTER)
    for i, (events, program) in enumerate(zip(parts, programs)):
        ch = _CHANNELS[i % len(_CHANNELS)]
        msgs: list[tuple[int, int, bytes]] = [(0, 0, bytes((0xC0 | ch, program & 0x7F)))]
        shift = 0.0
        while shift < excerpt_ql:  # loop the piece to fill the excerpt
            for on, dur, pitch, vel in events:
                start = on + shift
                if start >= excerpt_ql:
                    break
                t0 = round(start * TICKS_PER_QUARTER)
                t1 = min(round((start + dur) * TICKS_PER_QUARTER), end_tick)
                if t1 <= t0:
                    continue
                # note-offs sort before note-ons at the same tick (order 1 < 2)
                msgs.append((t0, 2, bytes((0x90 | ch, pitch & 0x7F, max(1, min(127, vel))))))
                msgs.append((t1, 1, bytes((0x80 | ch, pitch & 0x7F, 0))))
            shift += length
        tracks.append(_track(msgs))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), TICKS_PER_QUARTER)
    return header + b"".join(tracks)
