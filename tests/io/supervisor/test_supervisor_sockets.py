"""Replica listening sockets: loopback, ephemeral, and Nagle off for what they accept."""

from __future__ import annotations

import socket

from changeover.supervisor.sockets import bind_listener, port_of


def test_accepted_connections_inherit_tcp_nodelay() -> None:
    # Apps given the fd (uvicorn --fd 3 treats it as AF_UNIX) never set TCP_NODELAY
    # themselves; without it every keep-alive response body waits for a delayed ACK.
    with bind_listener() as listener:
        assert listener.getsockname()[0] == "127.0.0.1"
        assert port_of(listener) > 0
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                assert client.fileno() >= 0
