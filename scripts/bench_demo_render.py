#!/usr/bin/env python
"""Time each stage of the demo catalog pipeline on a few works per collection.

    python scripts/bench_demo_render.py [--collections bach oneills1850 ...] [--works 3] [--seconds 20]

Prints, per collection, the mean seconds of: parse (music21), analyse, MIDI excerpt,
fluidsynth render (no cache) and the render's real-time factor. Timings depend on how busy
the machine is; compare runs on an idle machine.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time

from kgjemb.demo.analyse import analyse
from kgjemb.demo.arrange import arrange
from kgjemb.demo.corpus import discover, load_score
from kgjemb.demo.midi import excerpt_midi
from kgjemb.demo.render import render_midi


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--collections", nargs="+", default=["bach", "palestrina", "beethoven", "oneills1850", "ryansMammoth"])
    p.add_argument("--works", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    logging.getLogger("music21").setLevel(logging.ERROR)
    print(f"{'collection':<16}{'parse s':>9}{'analyse s':>11}{'midi s':>9}{'render s':>10}{'x realtime':>12}")
    for coll in args.collections:
        t0 = time.perf_counter()
        works = discover(coll)[: args.works]
        t_disc = time.perf_counter() - t0
        rows = []
        for w in works:
            t0 = time.perf_counter()
            score = load_score(w)
            t1 = time.perf_counter()
            a = analyse(score, w)
            t2 = time.perf_counter()
            arr = arrange(w.work_id, form=w.form_hint, n_parts=len(a.parts), beat_ql=a.beat_ql, seed=0, meter=a.meter)[0]
            midi = excerpt_midi(a.parts, programs=arr.programs, bpm=arr.bpm, excerpt_ql=args.seconds * arr.bpm / 60)
            t3 = time.perf_counter()
            render_midi(midi, args.seconds)
            t4 = time.perf_counter()
            rows.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))
        mean = [statistics.mean(c) for c in zip(*rows)]
        print(f"{coll:<16}{mean[0]:>9.2f}{mean[1]:>11.2f}{mean[2]:>9.3f}{mean[3]:>10.2f}{args.seconds / mean[3]:>12.1f}"
              f"   (discovery {t_disc:.2f}s)")


if __name__ == "__main__":
    main()
