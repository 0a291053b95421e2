"""Bearer-token checks for the API and the admin routes (constant-time comparison).

- ``KGJEMB_API_TOKEN`` set: every route except ``/healthz``, ``/readyz`` and the API
  description needs ``Authorization: Bearer <token>``; otherwise 401 with
  ``WWW-Authenticate: Bearer``. The OpenAPI schema declares it as the ``apiToken``
  security scheme on exactly those routes (so ``/docs`` and generated clients send it);
  without the variable the routes are open and declare no security.
- ``KGJEMB_ADMIN_TOKEN`` unset: ``/v1/admin/*`` answers 403 "admin routes are disabled";
  set: the admin token (scheme ``adminToken``) is required (401 when missing or wrong).

Tokens shorter than ``MIN_TOKEN_CHARS`` (8) are refused at start-up.
"""
from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["admin_scheme", "api_scheme", "check_admin", "check_api", "tokens_match"]

api_scheme = HTTPBearer(
    auto_error=False, scheme_name="apiToken",
    description="The server's KGJEMB_API_TOKEN, sent as 'Authorization: Bearer <token>'.",
)
admin_scheme = HTTPBearer(
    auto_error=False, scheme_name="adminToken",
    description="The server's KGJEMB_ADMIN_TOKEN, sent as 'Authorization: Bearer <token>' (admin routes only).",
)

Credentials = HTTPAuthorizationCredentials | None


def tokens_match(given: str | None, expected: str) -> bool:
    """Compare in time independent of where the strings differ (``hmac.compare_digest``)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def _given(credentials: Credentials) -> str | None:
    token = credentials.credentials.strip() if credentials is not None else ""
    return token or None


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="kgjemb"' + (f', error="{error}"' if error else "")
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


def check_api(request: Request, credentials: Annotated[Credentials, Security(api_scheme)]) -> None:
    """Dependency of every non-health route when an API token is configured."""
    expected = request.app.state.config.token("api_token")
    if expected is None:
        return
    given = _given(credentials)
    if given is None:
        raise _unauthorized("this server requires an API token: send 'Authorization: Bearer <token>'")
    if not tokens_match(given, expected):
        raise _unauthorized("invalid API token", "invalid_token")


def check_admin(request: Request, credentials: Annotated[Credentials, Security(admin_scheme)]) -> None:
    """Dependency of ``/v1/admin/*``: 403 when admin is disabled, 401 without the admin token."""
    expected = request.app.state.config.token("admin_token")
    if expected is None:
        raise HTTPException(
            status_code=403,
            detail="admin routes are disabled: start the server with KGJEMB_ADMIN_TOKEN set to enable them",
        )
    given = _given(credentials)
    if given is None:
        raise _unauthorized("admin routes require 'Authorization: Bearer <admin token>'")
    if not tokens_match(given, expected):
        raise _unauthorized("invalid admin token", "invalid_token")
