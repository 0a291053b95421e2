"""The environment variables of the service's settings, named without importing
pydantic-settings (the CLI's ``--help`` text shows them; :mod:`kgjemb.serve.config` reads them)."""
from __future__ import annotations

__all__ = ["ENV_PREFIX", "TOKEN_ENV", "env_name"]

ENV_PREFIX = "KGJEMB_SERVE_"
#: the two tokens read variables of their own, without the prefix
TOKEN_ENV = {"api_token": "KGJEMB_API_TOKEN", "admin_token": "KGJEMB_ADMIN_TOKEN"}


def env_name(field: str) -> str:
    """The environment variable a setting reads: ``max_batch`` → ``KGJEMB_SERVE_MAX_BATCH``."""
    return TOKEN_ENV.get(field, ENV_PREFIX + field.upper())
