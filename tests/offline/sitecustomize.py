"""Block network access from every Python process of the test suite.

``make test`` puts this folder on ``PYTHONPATH`` and sets ``COURSE_OFFLINE=1``,
so pytest, its xdist workers and every notebook kernel nbval starts import it.
Connections to loopback addresses (the kernels' own sockets, the JupyterLab
server of the browser test) still work; anything else raises, so a run-time
download can never sneak into the course.
"""

from __future__ import annotations

import ipaddress
import os
import socket

if os.environ.get("COURSE_OFFLINE") == "1":
    _real_connect = socket.socket.connect
    _real_connect_ex = socket.socket.connect_ex
    _real_getaddrinfo = socket.getaddrinfo

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

    class NetworkBlockedError(ConnectionRefusedError):
        """Raised for a connection to anything but this machine during the tests."""

    def _guard(address: object) -> None:
        if not _is_local(address):
            raise NetworkBlockedError(
                f"network access to {address!r} is blocked during the tests: the course must "
                "run offline (nothing may be downloaded at run time)"
            )

    def connect(self, address):  # type: ignore[no-untyped-def]
        _guard(address)
        return _real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        _guard(address)
        return _real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        _guard((host, 0) if not isinstance(host, bytes) else (host.decode(), 0))
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
