"""Start ``kgjemb serve`` as a child process on a free loopback port and wait until ready.

Used by the tests, ``scripts/bench_serve.py`` and ``scripts/fuzz_serve.py`` so that all of
them exercise the real command, not an in-process stand-in.

>>> with ServerProcess("/srv/kgjemb/bundle") as server:       # doctest: +SKIP
...     httpx.get(server.url + "/readyz").json()["status"]
'ready'
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

__all__ = ["ServerProcess", "free_port"]

logger = logging.getLogger(__name__)

_CLI = "from kgjemb.cli import main; main()"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """``kgjemb serve BUNDLE --port <free>`` in a child process, stopped on exit.

    ``env`` adds environment variables (tokens: ``KGJEMB_API_TOKEN``,
    ``KGJEMB_ADMIN_TOKEN``; settings: ``KGJEMB_SERVE_*``); ``args`` adds CLI options;
    ``ready_timeout_s`` bounds the wait for ``/readyz`` (default 600 s: a loaded CI
    machine is slow). The server's output
    goes to ``log_path`` (a temp file unless given), which is quoted when it fails to start.
    """

    def __init__(
        self,
        bundle: str | os.PathLike,
        *,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        ready_timeout_s: float = 600.0,
        log_path: str | os.PathLike | None = None,
    ) -> None:
        self.bundle = Path(bundle)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                    "TOKENIZERS_PARALLELISM": "false", **(env or {})}
        self.args = list(args or [])
        self.ready_timeout_s = ready_timeout_s
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="kgjemb-serve-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("server not started")
        return self.proc.pid

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def start(self) -> "ServerProcess":
        """Launch and wait until ``/readyz`` answers 200."""
        return self.launch().wait_ready()

    def launch(self) -> "ServerProcess":
        """Start the process without waiting (start several, then :meth:`wait_ready` each)."""
        cmd = [sys.executable, "-c", _CLI, "serve", str(self.bundle), "--host", "127.0.0.1",
               "--port", str(self.port), *self.args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self) -> "ServerProcess":
        """Poll ``/readyz`` until 200 (bounded by ``ready_timeout_s``); stop and raise with
        the server's log when it exits or never gets ready."""
        if self.proc is None:
            raise RuntimeError("launch() the server first")
        deadline = time.monotonic() + self.ready_timeout_s
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"kgjemb serve exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    r = client.get(self.url + "/readyz")
                except httpx.TransportError:
                    r = None
                if r is not None and r.status_code == 200:
                    logger.info("server ready at %s (pid %d)", self.url, self.proc.pid)
                    return self
                if r is not None and r.status_code == 503 and r.json().get("detail"):
                    self.stop()  # the bundle failed to load: no point waiting
                    raise RuntimeError(f"kgjemb serve cannot load {self.bundle}: {r.json()['detail']}\n{self.log()}")
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"kgjemb serve not ready after {self.ready_timeout_s:g} s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
