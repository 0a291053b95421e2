"""``kgjemb serve --workers N``: uvicorn's worker supervisor, with one listening socket per
worker (``SO_REUSEPORT``) instead of one socket shared by all.

With a shared socket every idle worker is woken for a new connection and the first one
accepts all that are waiting, so a burst of connections (a client pool opening 8 at once)
often lands on one worker while the other idles: measured with ``scripts/bench_serve.py``
at 8 keep-alive clients and 2 workers, the split was 8/0 in 3 of 4 starts (~170 QPS, the
throughput of one worker) and 4/4 or 2/6 otherwise (300–360 QPS). With a socket per worker
the kernel spreads new connections over the workers by a hash of the address pair.

The parent binds the address (so a port in use fails at once, and port 0 resolves to one
port for every worker) but never listens on it; a socket in ``SO_REUSEPORT``'s group that
does not listen gets no connections. Each worker process receives, instead of a copy of
that socket, a fresh one bound to the same address (:class:`PerWorkerSocket` pickles that
way), on which its server listens. uvicorn's supervisor (health checks, restarts,
signals) is used unchanged.
"""
from __future__ import annotations

import logging
import socket

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

__all__ = ["PerWorkerSocket", "ReusePortConfig", "run_workers"]

logger = logging.getLogger("uvicorn.error")  # where uvicorn reports the address it serves


def _listener_socket(family: int, address: tuple) -> socket.socket:
    """A socket bound to ``address`` with ``SO_REUSEADDR`` and ``SO_REUSEPORT``."""
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class PerWorkerSocket(socket.socket):
    """The parent's bound (never listening) socket; unpickled in a worker it becomes that
    worker's own socket on the same address (multiprocessing would otherwise pass a
    duplicate of this very socket)."""

    def __reduce__(self):
        return _listener_socket, (self.family, self.getsockname())


class ReusePortConfig(Config):
    """uvicorn's :class:`~uvicorn.Config` whose TCP socket is a :class:`PerWorkerSocket`."""

    def bind_socket(self) -> socket.socket:
        if self.uds is not None or self.fd is not None:
            return super().bind_socket()
        family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
        plain = _listener_socket(family, (self.host, self.port))
        sock = PerWorkerSocket(family=family, fileno=plain.detach())
        sock.set_inheritable(True)
        host, port = sock.getsockname()[:2]
        logger.info("Uvicorn running on http://%s:%d, a listening socket per worker (Press CTRL+C to quit)",
                    f"[{host}]" if ":" in host else host, port)
        return sock


def run_workers(app: str, **options) -> None:
    """``uvicorn.run(app, workers=N, ...)`` with a listening socket per worker: ``app`` is
    an import string (workers import it), ``options`` are :class:`uvicorn.Config`'s."""
    config = ReusePortConfig(app, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
