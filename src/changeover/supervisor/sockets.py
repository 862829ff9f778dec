"""Loopback listening sockets for replicas.

Invariant: a socket made here is bound and listening before anyone sees its port, and it
stays non-inheritable in the agent; it reaches a child only through an explicit dup2.
"""

from __future__ import annotations

import socket

HOST = "127.0.0.1"
BACKLOG = 1024


def bind_listener(host: str = HOST, port: int = 0) -> socket.socket:
    """A TCP socket listening on `host`, on `port` (0: an ephemeral port the kernel
    chooses); OSError if that port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it: apps handed a pre-bound fd (`uvicorn --fd 3`,
        # gunicorn) otherwise keep Nagle on and each keep-alive response waits ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (for apps that bind `{port}` themselves).

    Racy by nature: another process may take it before the app binds it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return port_of(sock)
