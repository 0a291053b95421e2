#!/usr/bin/env python
"""Time each stage of the demo catalog pipeline on a few works per collection.

    python scripts/bench_demo_render.py [--collections bach oneills1850 ...] [--works 3] [--seconds 20]

Prints, per collection, the mean of: parse (music21), analyse, MIDI excerpt, and the
render of the same MIDI two ways: through the ``fluidsynth`` command line (a process and
a soundfont load per excerpt, the renderer before v2) and in-process with the soundfont
loaded once (:func:`kgjemb.demo.render.render_midi`, what the builder runs), each as wall
ms and CPU ms per excerpt (the command line's CPU is its child process's), with the
largest sample difference between the two. The in-process soundfont load is timed once,
separately. Timings depend on how busy the machine is; compare runs on an idle machine.
music21 keeps parsed scores in its scratch folder (``$TMPDIR/music21``): point TMPDIR at an
empty folder to time cold parses.
"""
from __future__ import annotations

import argparse
import logging
import resource
import statistics
import time

import numpy as np

from kgjemb.demo.analyse import analyse
from kgjemb.demo.arrange import arrange
from kgjemb.demo.corpus import discover, load_score
from kgjemb.demo.midi import excerpt_midi
from kgjemb.demo.render import RenderConfig, release_synths, render_midi, render_midi_cli


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--collections", nargs="+", default=["bach", "palestrina", "beethoven", "oneills1850", "ryansMammoth"])
    p.add_argument("--works", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    logging.getLogger("music21").setLevel(logging.ERROR)
    cfg = RenderConfig()
    w0, c0 = time.perf_counter(), time.process_time()
    render_midi(excerpt_midi([((0.0, 1.0, 60, 80),)], programs=(0,), bpm=120.0, excerpt_ql=2.0), 1.0, cfg)
    print(f"in-process soundfont load + first render: {(time.perf_counter() - w0) * 1000:.0f} ms wall, "
          f"{(time.process_time() - c0) * 1000:.0f} ms CPU (once per process)\n")
    print(f"{'collection':<14}{'parse s':>8}{'analyse s':>10}{'midi ms':>8}"
          f"{'cli wall ms':>12}{'cli cpu ms':>11}{'inproc wall ms':>15}{'inproc cpu ms':>14}{'speed-up':>9}{'max |diff|':>11}")
    totals = []
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
            cc = _children_cpu()
            ref = render_midi_cli(midi, args.seconds, cfg)
            t4, cli_cpu = time.perf_counter(), _children_cpu() - cc
            c4 = time.process_time()
            audio = render_midi(midi, args.seconds, cfg)
            t5, in_cpu = time.perf_counter(), time.process_time() - c4
            rows.append((t1 - t0, t2 - t1, (t3 - t2) * 1000, (t4 - t3) * 1000, cli_cpu * 1000, (t5 - t4) * 1000,
                         in_cpu * 1000, float(np.abs(audio - ref).max())))
        totals += rows
        m = [statistics.mean(c) for c in zip(*rows)]
        print(f"{coll:<14}{m[0]:>8.2f}{m[1]:>10.2f}{m[2]:>8.1f}{m[3]:>12.0f}{m[4]:>11.0f}{m[5]:>15.0f}{m[6]:>14.0f}"
              f"{m[3] / m[5]:>8.1f}x{max(r[7] for r in rows):>11.1e}   (discovery {t_disc:.2f}s, {len(rows)} works)")
    m = [statistics.mean(c) for c in zip(*totals)]
    print(f"{'all':<14}{m[0]:>8.2f}{m[1]:>10.2f}{m[2]:>8.1f}{m[3]:>12.0f}{m[4]:>11.0f}{m[5]:>15.0f}{m[6]:>14.0f}"
          f"{m[3] / m[5]:>8.1f}x{max(r[7] for r in totals):>11.1e}   ({len(totals)} excerpts of {args.seconds:g} s)")
    release_synths()


if __name__ == "__main__":
    main()
