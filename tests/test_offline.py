"""The suite runs offline: no Python process it starts can reach the network."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

OFFLINE = os.environ.get("COURSE_OFFLINE") == "1"
pytestmark = pytest.mark.skipif(not OFFLINE, reason="run through `make test`, which blocks the network")

PROBE = (
    "import socket\n"
    "try:\n"
    "    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"  # TEST-NET-1, never routed
    "except ConnectionRefusedError as e:\n"
    "    print('blocked:', type(e).__name__)\n"
)


def test_outside_connections_are_refused_here():
    with pytest.raises(ConnectionRefusedError, match="blocked during the tests"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(ConnectionRefusedError, match="blocked"):
        socket.getaddrinfo("pypi.org", 443)


def test_child_processes_such_as_kernels_are_blocked_too():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert "blocked: NetworkBlockedError" in out.stdout


def test_loopback_still_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()
