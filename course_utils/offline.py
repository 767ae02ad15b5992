"""Block network access from a Python process (loopback still works).

Used at interpreter start-up by ``tests/offline/sitecustomize.py`` (every Python
process of ``make test``) and by ``course_utils/_grading/sitecustomize.py`` (every
kernel the grader starts), so no run-time download can sneak into the course.
Connections to loopback addresses (a kernel's own sockets, a local JupyterLab)
and Unix sockets still work; anything else raises :class:`NetworkBlockedError`.
Imports only the standard library.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["NetworkBlockedError", "block_network"]


class NetworkBlockedError(ConnectionRefusedError):
    """Raised for a connection to anything but this machine while the network is blocked."""


def _is_local(address: object) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def block_network(while_: str = "during the tests") -> None:
    """Refuse every non-loopback connection from now on; ``while_`` ends the error message.

    Idempotent: calling it twice wraps the socket functions once.
    """
    if getattr(socket.socket.connect, "_course_blocked", False):
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: object) -> None:
        if not _is_local(address):
            raise NetworkBlockedError(
                f"network access to {address!r} is blocked {while_}: the course must "
                "run offline (nothing may be downloaded at run time)"
            )

    def connect(self, address):  # type: ignore[no-untyped-def]
        guard(address)
        return real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        guard((host, 0) if not isinstance(host, bytes) else (host.decode(), 0))
        return real_getaddrinfo(host, *args, **kwargs)

    connect._course_blocked = True  # type: ignore[attr-defined]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
