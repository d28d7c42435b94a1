"""Close HTTP connections that hold a server slot without sending a request.

uvicorn (under BentoML) arms its keep-alive timer only after a response, and cancels it
on the first byte that arrives, so a client that connects and then sends nothing, or half
a request line and then stops, keeps its connection open for ever; forty such clients
hold forty sockets and file descriptors indefinitely. `install` gives every connection a
deadline: a request's headers must be complete within ``seconds`` of the connection
opening or of the previous response, however slowly bytes trickle in. A request whose
headers have arrived is the application's (the gate bounds how long its body may take).
"""

from __future__ import annotations

_INSTALLED: dict[type, float] = {}


def _arm(protocol, seconds: float) -> None:
    """Close ``protocol``'s connection in ``seconds`` unless a new request starts first."""
    waiting_for = protocol.cycle  # the request in flight (or None) when the timer starts

    def expire() -> None:
        started = protocol.cycle is not waiting_for
        busy = protocol.cycle is not None and not protocol.cycle.response_complete
        if not started and not busy and not protocol.transport.is_closing():
            protocol.transport.close()

    loop = protocol.loop
    old = getattr(protocol, "_paperrec_idle", None)
    if old is not None:
        old.cancel()
    protocol._paperrec_idle = loop.call_later(seconds, expire)


def install(seconds: float) -> None:
    """Give uvicorn's HTTP/1.1 connections an idle deadline of ``seconds`` (0: off)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    classes = [H11Protocol]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed: uvicorn uses h11
        pass
    else:
        classes.append(HttpToolsProtocol)
    for cls in classes:
        if seconds <= 0 or cls in _INSTALLED:
            continue
        _INSTALLED[cls] = seconds
        _patch(cls, seconds)


def _patch(cls: type, seconds: float) -> None:
    made, complete, lost = cls.connection_made, cls.on_response_complete, cls.connection_lost

    def connection_made(self, transport) -> None:
        made(self, transport)
        _arm(self, seconds)

    def on_response_complete(self) -> None:
        complete(self)
        if not self.transport.is_closing():
            _arm(self, seconds)

    def connection_lost(self, exc) -> None:
        timer = getattr(self, "_paperrec_idle", None)
        if timer is not None:
            timer.cancel()
        lost(self, exc)

    cls.connection_made = connection_made
    cls.on_response_complete = on_response_complete
    cls.connection_lost = connection_lost
