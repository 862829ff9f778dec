"""Client connections over the handover channel: SCM_RIGHTS in batches, all adopted."""

from __future__ import annotations

import asyncio
import socket

from changeover.agent import clients
from tests.helpers import bounded


def pairs(n: int) -> list[tuple[socket.socket, socket.socket]]:
    return [socket.socketpair() for _ in range(n)]


def test_every_connection_sent_arrives_alive_across_several_batches() -> None:
    conns = pairs(clients.BATCH * 2 + 50)  # three messages
    old, new = socket.socketpair()
    adopted: list[socket.socket] = []

    async def adopt(sock: socket.socket) -> None:
        adopted.append(sock)

    async def main() -> int:
        receiving = asyncio.ensure_future(clients.receive(new, adopt))
        assert clients.sender(old)([ours for ours, _ in conns])
        old.close()  # all sent: the receiver stops at the end of the channel
        return await receiving

    try:
        assert bounded(main()) == len(conns)
        for index, (ours, theirs) in enumerate(conns):
            ours.close()  # the sender's copy goes; the adopted one keeps the connection
            theirs.sendall(b"%d" % index)
            assert adopted[index].recv(16) == b"%d" % index  # in order, and alive
    finally:
        for sock in adopted:
            sock.close()
        for ours, theirs in conns:
            ours.close()
            theirs.close()


def test_a_send_to_a_gone_agent_says_so() -> None:
    old, new = socket.socketpair()
    new.close()
    ours, theirs = socket.socketpair()
    with old, ours, theirs:
        assert not clients.sender(old)([ours])


def test_a_connection_that_cannot_be_adopted_is_closed_and_the_rest_go_on() -> None:
    conns = pairs(3)
    old, new = socket.socketpair()
    kept: list[socket.socket] = []
    offered: list[socket.socket] = []

    async def adopt(sock: socket.socket) -> None:
        offered.append(sock)
        if len(offered) == 1:
            raise RuntimeError("the proxy is shut down")
        kept.append(sock)

    async def main() -> int:
        assert clients.sender(old)([ours for ours, _ in conns])
        old.close()
        return await clients.receive(new, adopt)

    try:
        assert bounded(main()) == 2
        first_peer = conns[0][1]
        conns[0][0].close()
        assert first_peer.recv(1) == b""  # the refused one was closed, not leaked
    finally:
        for sock in kept:
            sock.close()
        for ours, theirs in conns:
            ours.close()
            theirs.close()


def test_an_old_agent_that_never_closes_the_channel_is_not_waited_for_forever() -> None:
    old, new = socket.socketpair()

    async def adopt(sock: socket.socket) -> None:
        raise AssertionError("nothing was sent")

    with old:
        assert bounded(clients.receive(new, adopt, within=0.2)) == 0
