"""Settings of the HTTP service: network, limits, timeouts, batching and tokens.

One frozen pydantic-settings model. Every field reads the environment variable
``KGJEMB_SERVE_<FIELD>`` (e.g. ``KGJEMB_SERVE_MAX_BATCH=16``, ``KGJEMB_SERVE_PORT=9000``,
``KGJEMB_SERVE_BATCHING=on``); the two tokens read ``KGJEMB_API_TOKEN`` and
``KGJEMB_ADMIN_TOKEN``. Keyword arguments (the CLI's options) win over the environment;
empty variables count as unset; ``none`` sets an optional field to None. ``uvicorn
--workers N`` processes rebuild the same settings from :meth:`ServeConfig.to_env`.

Query limits (text length, ``k``, batch ceiling) live in :mod:`kgjemb.limits`, once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kgjemb.limits import MAX_BATCH_QUERIES
from kgjemb.serve.env import ENV_PREFIX, TOKEN_ENV as _TOKEN_ENV, env_name

__all__ = ["ServeConfig", "ENV_PREFIX", "MIN_TOKEN_CHARS", "env_name"]

#: shortest accepted bearer token (the server refuses to start with a shorter one)
MIN_TOKEN_CHARS = 8


class ServeConfig(BaseSettings):
    """How the service behaves. Defaults suit one process on a small machine.

    Network: ``host`` (127.0.0.1), ``port`` (8000), ``workers`` (1; >1 runs uvicorn worker
    processes with Prometheus multiprocess metrics), ``keep_alive_s`` (30: longer than
    clients' pool expiry avoids resets on reuse), ``header_timeout_s`` (10: a connection
    that has not sent a complete request head by then is closed), ``max_header_bytes``
    (16 KiB of request head), ``log_level`` (info).
    Limits: ``max_batch`` queries per ``POST /v1/search/batch`` (64, at most
    ``kgjemb.limits.MAX_BATCH_QUERIES``; the OpenAPI schema states it); ``max_body_bytes``
    (1 MiB, else 413); ``request_timeout_s`` (10: an engine call that takes longer answers
    504). Dispatch: ``batching`` (False: one thread-pool call per request measured better on
    the shared 2-core box, see ``scripts/bench_serve.py``), ``batch_wait_ms`` (2),
    ``batch_max_size`` (32), ``engine_threads`` (2), ``torch_threads`` (1: FAISS's OpenMP
    threads per process, named for its variable; the text encoder runs on ONNX Runtime
    with one thread; None: library default). ``walks_kept``: array entries of graph walks
    each process keeps for repeated anchors (None: ``EngineConfig.walks_kept``'s default,
    2·10^6 ≈ 32 MB, ~40 artists' walks at 10^6 tracks; 0 keeps none). ``engine_config``:
    the engine's settings (signal weights, graph walk, fusion, ...) as a JSON file or an
    inline JSON object (:func:`kgjemb.query.config.load_engine_config`; checked when the
    settings are built, read again at each load, so a reload picks up an edited file;
    ``walks_kept`` and ``torch_threads`` win over it; None: the defaults). Tokens (at least 8
    characters): ``api_token`` guards every route but ``/healthz``, ``/readyz`` and the
    API description (None: open); ``admin_token`` enables
    ``/v1/admin/*`` (None: admin routes disabled). ``sighup_reload`` (True) reloads the
    bundle on SIGHUP. ``bundle``: the bundle directory (``KGJEMB_SERVE_BUNDLE``).

    >>> ServeConfig(max_batch=16).max_batch
    16
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", env_ignore_empty=True, env_parse_none_str="none",
        validate_by_name=True, validate_by_alias=True, hide_input_in_errors=True,
    )

    bundle: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    keep_alive_s: float = Field(30.0, gt=0)
    header_timeout_s: float = Field(10.0, gt=0)
    max_header_bytes: int = Field(16 * 1024, ge=1024)
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    max_batch: int = Field(64, ge=1, le=MAX_BATCH_QUERIES)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    request_timeout_s: float = Field(10.0, gt=0)
    batching: bool = False
    batch_wait_ms: float = Field(2.0, ge=0, le=1000)
    batch_max_size: int = Field(32, ge=1)
    engine_threads: int = Field(2, ge=1)
    torch_threads: int | None = Field(1, ge=1)
    walks_kept: int | None = Field(None, ge=0)
    engine_config: str | None = None
    # the alias is the variable's name (no prefix); the field name works as a keyword too
    api_token: SecretStr | None = Field(None, validation_alias=_TOKEN_ENV["api_token"])
    admin_token: SecretStr | None = Field(None, validation_alias=_TOKEN_ENV["admin_token"])
    sighup_reload: bool = True

    @field_validator("api_token", "admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters long")
        return value

    @field_validator("engine_config")
    @classmethod
    def _engine_config_loads(cls, value: str | None) -> str | None:
        """Refuse settings the engine would refuse at every load; a file becomes an absolute
        path (worker processes and reloads read it wherever they run)."""
        from kgjemb.query.config import load_engine_config

        if value is None:
            return None
        load_engine_config(value)  # ConfigError is a ValueError: pydantic reports it under the field
        return value if value.lstrip().startswith(("{", "[")) else str(Path(value).expanduser().resolve())

    @classmethod
    def from_env(cls, **overrides) -> "ServeConfig":
        """Settings from the environment, with ``overrides`` (keyword arguments that are not
        None) winning. Raises ValueError naming the setting and its variable."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as err:
            raise ValueError("; ".join(
                f"{e['loc'][0]} ({env_name(str(e['loc'][0]))}): {e['msg']}" if e["loc"] else e["msg"]
                for e in err.errors())) from None

    def token(self, name: Literal["api_token", "admin_token"]) -> str | None:
        """The plain text of a token, or None when unset."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` rebuild this config (worker processes)."""
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is None:  # empty counts as unset (a token, the bundle); "none" for the rest
                value = "" if name in _TOKEN_ENV or name == "bundle" else "none"
            env[env_name(name)] = str(int(value)) if isinstance(value, bool) else str(value)
        return env

    def with_(self, **changes) -> "ServeConfig":
        """A validated copy with ``changes``."""
        return type(self).model_validate({**{k: getattr(self, k) for k in type(self).model_fields}, **changes})
