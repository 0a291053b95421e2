"""Bearer-token checks for the API and the admin routes (constant-time comparison).

- ``KGJEMB_API_TOKEN`` set: every route except ``/healthz``, ``/readyz`` and the API
  description needs ``Authorization: Bearer <token>``; otherwise 401 with
  ``WWW-Authenticate: Bearer``.
- ``KGJEMB_ADMIN_TOKEN`` unset: ``/v1/admin/*`` answers 403 "admin routes are disabled";
  set: the admin token is required (401 when missing or wrong).
"""
from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

__all__ = ["bearer_token", "check_admin", "check_api", "tokens_match"]


def tokens_match(given: str | None, expected: str) -> bool:
    """Compare in time independent of where the strings differ (``hmac.compare_digest``)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="kgjemb"' + (f', error="{error}"' if error else "")
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


def check_api(request: Request) -> None:
    """Dependency of every non-health route: enforce the API token when one is configured."""
    expected = request.app.state.config.api_token
    if expected is None:
        return
    given = bearer_token(request)
    if given is None:
        raise _unauthorized("this server requires an API token: send 'Authorization: Bearer <token>'")
    if not tokens_match(given, expected):
        raise _unauthorized("invalid API token", "invalid_token")


def check_admin(request: Request) -> None:
    """Dependency of ``/v1/admin/*``: 403 when admin is disabled, 401 without the admin token."""
    expected = request.app.state.config.admin_token
    if expected is None:
        raise HTTPException(
            status_code=403,
            detail="admin routes are disabled: start the server with KGJEMB_ADMIN_TOKEN set to enable them",
        )
    given = bearer_token(request)
    if given is None:
        raise _unauthorized("admin routes require 'Authorization: Bearer <admin token>'")
    if not tokens_match(given, expected):
        raise _unauthorized("invalid admin token", "invalid_token")
