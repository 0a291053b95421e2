"""Schemathesis ``--checks all`` against a real ``kgjemb serve`` on the real bundle: zero
failures (no 5xx, every status/content type/body documented, invalid input refused, valid
input accepted, auth enforced)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_fuzz_all_checks_pass(bundle_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz_serve.py"), "--bundle", str(bundle_dir),
         "--max-examples", "12", "--seed", "7"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "passed" in out and "failed" not in out.split("SUMMARY")[-1], out[-4000:]
