#!/usr/bin/env python
"""Fuzz the HTTP service with schemathesis `--checks all`: every generated request must get a
documented status, content type and body shape (no 5xx, invalid input refused, valid input
accepted, auth enforced).

Starts ``kgjemb serve`` on the bundle (with API and admin tokens so the authorised code
paths are reached; the admin reload route is excluded because fuzzing it would swap
bundles), then runs the schemathesis 4.x CLI against ``/openapi.json`` with the
``not_a_server_error`` check and a bounded number of examples per operation.

    python scripts/fuzz_serve.py --bundle .kgjemb/bundle --max-examples 50
    python scripts/fuzz_serve.py --url http://127.0.0.1:8000 --token T   # a running server
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kgjemb.serve.launch import ServerProcess


def schemathesis_cmd(url: str, token: str | None, max_examples: int, seed: int, max_time: float | None) -> list[str]:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if exe is None:
        raise SystemExit("schemathesis is not installed: pip install 'schemathesis>=4'")
    cmd = [exe, "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", str(max_examples),
           "--seed", str(seed), "--exclude-path-regex", "^/v1/admin/", "--workers", "1",
           "--suppress-health-check", "all", "--request-timeout", "30", "--no-shrink"]
    if max_time:
        cmd += ["--max-time", str(int(max_time))]
    if token:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    return cmd


def run(url: str, token: str | None, max_examples: int, seed: int, max_time: float | None) -> int:
    cmd = schemathesis_cmd(url, token, max_examples, seed, max_time)
    print("+", " ".join(c if "Bearer" not in c else "Authorization: Bearer ***" for c in cmd), flush=True)
    env = {**os.environ, "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory(prefix="kgjemb-fuzz-") as work:  # schemathesis/hypothesis state goes here
        return subprocess.run(cmd, env=env, cwd=work, check=False).returncode


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default=".kgjemb/bundle")
    p.add_argument("--url", help="fuzz an already running server instead of starting one")
    p.add_argument("--token", help="API token of the running server (--url)")
    p.add_argument("--max-examples", type=int, default=50, help="examples per operation (50)")
    p.add_argument("--max-time", type=float, default=None, help="time budget for the whole run, seconds")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.url:
        return run(args.url.rstrip("/"), args.token, args.max_examples, args.seed, args.max_time)
    token = secrets.token_urlsafe(16)
    env = {"KGJEMB_API_TOKEN": token, "KGJEMB_ADMIN_TOKEN": secrets.token_urlsafe(16)}
    with ServerProcess(args.bundle, env=env, args=["--log-level", "warning"]) as server:
        rc = run(server.url, token, args.max_examples, args.seed, args.max_time)
        if server.proc.poll() is not None:
            print(f"server died during fuzzing:\n{server.log()}", file=sys.stderr)
            return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
