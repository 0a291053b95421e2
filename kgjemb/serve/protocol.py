"""uvicorn's h11 HTTP protocol plus a request-head timeout (slow-loris protection).

uvicorn (0.54) bounds the *size* of an incomplete request head
(``h11_max_incomplete_event_size``) and closes *idle* keep-alive connections
(``timeout_keep_alive``), but a connection that opens and then sends its head byte by byte,
or nothing at all, is held forever: 1,000 such connections pin 1,000 sockets. This
protocol arms a timer when a connection opens (and when a kept-alive connection starts its
next request) and closes the connection when no complete request head has arrived within
``header_timeout_s`` seconds; a request being served is not affected.

It also turns Nagle's algorithm off on every connection (``TCP_NODELAY``). asyncio does
that itself only for sockets whose protocol number is ``IPPROTO_TCP``; the listening socket
uvicorn binds for ``--workers N`` is made with protocol 0, so its connections kept Nagle
on, and every kept-alive response (head and body are two writes) waited for the client's
delayed ACK: 44 ms a request at one client instead of ~8 ms.

The timeout comes from ``KGJEMB_SERVE_HEADER_TIMEOUT_S`` (:class:`ServeConfig`), which the
launcher writes into the environment before uvicorn starts, so that ``--workers N``
processes, which import this class by name, use the same value.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

from kgjemb.serve.config import ServeConfig

__all__ = ["HeaderTimeoutProtocol"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _header_timeout_s() -> float:
    return ServeConfig.from_env().header_timeout_s


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """Set TCP_NODELAY on a TCP connection's socket (a Unix socket has no such option)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as err:  # a socket already closed by the peer
            logger.debug("TCP_NODELAY not set: %s", err)


class HeaderTimeoutProtocol(H11Protocol):
    """:class:`H11Protocol` that closes connections whose request head is late."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if getattr(self, "_head_timer", None) is None:
            self._head_timer = self.loop.call_later(_header_timeout_s(), self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _serving(self) -> bool:
        """A request head has arrived and its response is not complete yet."""
        return self.cycle is not None and not self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        if not self._serving():
            self._arm_head_timer()  # the next request on a kept-alive connection starts
        super().data_received(data)
        if self._serving():
            self._cancel_head_timer()

    def handle_events(self) -> None:
        super().handle_events()
        if self._serving():  # also reached for pipelined requests after a response
            self._cancel_head_timer()

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._serving() or self.transport.is_closing():
            return
        logger.debug("closing %s: no complete request head within %.1f s", self.client, _header_timeout_s())
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)
