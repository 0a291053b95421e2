"""``scripts/gpu_check.sh --dry-run``: the GPU check's whole chain, tiny and on the CPU
(load → train → index → search → bench_query), as it would run on a GPU machine."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path):
    work = tmp_path / "work"
    env = {**os.environ, "PY": sys.executable, "WORK": str(work)}
    env.pop("KGJEMB_DEVICE", None)
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    summary = (work / "summary.txt").read_text()
    figures = dict(re.findall(r"^(\S[^\n]*?)\s{2,}(\S[^\n]*)$", summary, flags=re.M))
    assert figures["device"].startswith("cpu")
    assert float(figures["trainer pairs/s (cpu)"]) > 0
    assert float(figures["kgjemb search one-shot wall s (cpu)"]) > 0
    assert float(figures["index build s (cpu)"]) > 0
    # bench_query's per-type lines for the demo and the synthetic index, on the CPU
    for kind in ("entity", "text", "mixed"):
        assert len(re.findall(rf"^\[cpu\]\s+{kind} engine\.search\s+n=", summary, flags=re.M)) == 2, summary
        assert re.search(rf"^\[cpu\]\s+{kind} text encoder alone", summary, flags=re.M)
    hits = json.loads((work / "search-cpu.json").read_text())["hits"]
    assert hits and all(h["explanation"] for h in hits)
    assert os.listdir(tmp_path) == ["work"]  # everything stayed in the scratch folder
