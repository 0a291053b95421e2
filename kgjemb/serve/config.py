"""Settings of the HTTP service: limits, timeouts, batching and tokens.

One frozen dataclass, built from defaults, from keyword arguments, or from the
environment (:meth:`ServeConfig.from_env`), so that ``uvicorn --workers N`` processes
all see the same settings.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

__all__ = ["ServeConfig", "MAX_K", "MAX_QUERY_CHARS", "HARD_MAX_BATCH"]

#: largest ``k`` any request may ask for (part of the published schema)
MAX_K = 1000
#: longest query text in characters (part of the published schema)
MAX_QUERY_CHARS = 1000
#: the schema's ceiling on a batch; the configured ``max_batch`` (≤ this) is enforced too
HARD_MAX_BATCH = 1024

_ENV_PREFIX = "KGJEMB_SERVE_"


@dataclass(frozen=True)
class ServeConfig:
    """How the service behaves. Defaults suit one process on a small machine.

    ``max_batch``: queries per ``POST /v1/search/batch`` (64); ``max_body_bytes``: request
    bodies above this get 413 (1 MiB); ``request_timeout_s``: an engine call that takes
    longer answers 504 (10 s); ``batching``: collect concurrent searches into one
    ``engine.search_batch`` call (True) instead of one thread-pool call per request (False,
    the default: measured better on the shared 2-core box, see ``scripts/bench_serve.py``);
    ``batch_wait_ms``: how long the collector waits for more queries after the first (2 ms);
    ``batch_max_size``: most queries per engine batch (32); ``engine_threads``: threads that
    run engine calls (2); ``torch_threads``: intra-op threads of torch and FAISS in the
    process (1: parallelism comes from ``engine_threads`` and batching; on a shared 2-core
    machine 2 intra-op threads made a single search ~10x slower; None: library default);
    ``api_token``: bearer token for every non-health route (None:
    open; env ``KGJEMB_API_TOKEN``); ``admin_token``: bearer token for ``/v1/admin/*``
    (None: admin routes disabled; env ``KGJEMB_ADMIN_TOKEN``); ``sighup_reload``: reload
    the current bundle on SIGHUP (True).

    >>> ServeConfig(max_batch=16).max_batch
    16
    """

    max_batch: int = 64
    max_body_bytes: int = 1 << 20
    request_timeout_s: float = 10.0
    batching: bool = False
    batch_wait_ms: float = 2.0
    batch_max_size: int = 32
    engine_threads: int = 2
    torch_threads: int | None = 1
    api_token: str | None = None
    admin_token: str | None = None
    sighup_reload: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch <= HARD_MAX_BATCH:
            raise ValueError(f"max_batch must be in 1..{HARD_MAX_BATCH}, got {self.max_batch}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be positive, got {self.request_timeout_s}")
        if not 0 <= self.batch_wait_ms <= 1000:
            raise ValueError(f"batch_wait_ms must be in 0..1000, got {self.batch_wait_ms}")
        if self.batch_max_size < 1:
            raise ValueError(f"batch_max_size must be positive, got {self.batch_max_size}")
        if self.engine_threads < 1:
            raise ValueError(f"engine_threads must be positive, got {self.engine_threads}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be positive or None, got {self.torch_threads}")
        for name in ("api_token", "admin_token"):
            value = getattr(self, name)
            if value is not None and len(value) < 8:
                raise ValueError(f"{name} must be at least 8 characters long")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "ServeConfig":
        """Read ``KGJEMB_API_TOKEN``, ``KGJEMB_ADMIN_TOKEN`` and ``KGJEMB_SERVE_<FIELD>``
        (e.g. ``KGJEMB_SERVE_MAX_BATCH=16``, ``KGJEMB_SERVE_BATCHING=0``); keyword
        overrides win. Empty token variables count as unset."""
        env = os.environ if environ is None else environ
        values: dict = {
            "api_token": env.get("KGJEMB_API_TOKEN") or None,
            "admin_token": env.get("KGJEMB_ADMIN_TOKEN") or None,
        }
        for f in fields(cls):
            raw = env.get(_ENV_PREFIX + f.name.upper())
            if raw is None or f.name in ("api_token", "admin_token"):
                continue
            values[f.name] = _parse(f.name, raw, type(getattr(cls, f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` rebuild this config (worker processes)."""
        env = {_ENV_PREFIX + f.name.upper(): str(int(v) if isinstance(v, bool) else v)
               for f in fields(self) if (v := getattr(self, f.name)) is not None
               and f.name not in ("api_token", "admin_token")}
        if self.torch_threads is None:
            env[_ENV_PREFIX + "TORCH_THREADS"] = "none"
        if self.api_token:
            env["KGJEMB_API_TOKEN"] = self.api_token
        if self.admin_token:
            env["KGJEMB_ADMIN_TOKEN"] = self.admin_token
        return env

    def with_(self, **changes) -> "ServeConfig":
        return replace(self, **changes)


def _parse(name: str, raw: str, kind: type):
    try:
        if raw.strip().lower() in ("", "none", "default") and name == "torch_threads":
            return None
        if kind is bool:
            if raw.strip().lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return kind(raw)
    except ValueError as err:
        raise ValueError(f"{_ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from err
