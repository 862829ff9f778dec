"""`haproxy.preview.PreviewPass` on loopback, with a stand-in for HAProxy's `sockpair@`
side (it receives each fd with SCM_RIGHTS and answers on it): connections are passed,
not refused, while HAProxy is away they wait in the backlog, and none is kept."""

from __future__ import annotations

import asyncio
import os
import socket

from changeover.haproxy.preview import PreviewPass
from tests.helpers import bounded, until


class Receiver:
    """Reads fds off HAProxy's end of the pair and answers `passed <n>` on each."""

    def __init__(self, theirs: socket.socket) -> None:
        self.sock = theirs
        self.sock.setblocking(False)
        self.count = 0
        self.inodes: set[int] = set()  # of the sockets received
        asyncio.get_running_loop().add_reader(theirs.fileno(), self.read)

    def read(self) -> None:
        while True:
            try:
                _data, fds, _flags, _addr = socket.recv_fds(self.sock, 1, 4)
            except BlockingIOError:
                return
            if not fds:
                return
            for fd in fds:
                self.count += 1
                self.inodes.add(os.fstat(fd).st_ino)
                with socket.socket(fileno=fd) as conn:
                    conn.sendall(b"passed %d" % self.count)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


async def ask(address: tuple[str, int]) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        return await reader.read()
    finally:
        writer.close()


def test_connections_are_passed_and_wait_while_haproxy_is_away() -> None:
    async def go() -> None:
        previews = PreviewPass()
        previews.open(socket.create_server(("127.0.0.1", 0)))
        address = previews.address
        assert address is not None
        # no HAProxy yet: a client is not refused, it waits in the backlog
        early = asyncio.ensure_future(ask(address))
        await asyncio.sleep(0.2)
        assert not early.done()
        receiver = Receiver(previews.new_pair())
        previews.started()
        assert (await early).startswith(b"passed ")
        answers = await asyncio.gather(*(ask(address) for _ in range(50)))
        assert sorted(int(a.split()[1]) for a in answers) == list(range(2, 52))
        assert previews.passed == 51
        # HAProxy gone: nothing is accepted until a new one runs with a new pair
        receiver.close()
        previews.lost()
        waiting = asyncio.ensure_future(ask(address))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        receiver = Receiver(previews.new_pair())
        previews.started()
        assert (await waiting).startswith(b"passed ")
        await until(lambda: previews.passed == 52, 5)
        previews.shutdown()
        assert previews.address is None
        receiver.close()

    bounded(go(), 20)


def test_a_full_pair_stops_accepting_until_haproxy_reads_again() -> None:
    async def go() -> None:
        previews = PreviewPass()
        previews.open(socket.create_server(("127.0.0.1", 0), backlog=1024))
        address = previews.address
        assert address is not None
        theirs = previews.new_pair()
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        previews.started()
        clients = [asyncio.ensure_future(ask(address)) for _ in range(300)]
        await until(lambda: previews.stalled, 10, "the pair to fill up")  # HAProxy stalls
        stalled = previews.passed
        assert stalled < 300
        receiver = Receiver(theirs)  # and reads again
        answers = await asyncio.gather(*clients)
        assert all(a.startswith(b"passed ") for a in answers)  # none refused or reset
        assert previews.passed == 300 > stalled
        previews.shutdown()
        receiver.close()

    bounded(go(), 30)


def test_the_preview_end_retires_the_connections_passed_by_their_inodes() -> None:
    """What `retire` hands to `shut_idle`: the socket inodes of the connections passed
    before the preview ended, not of those passed after; none after HAProxy died."""

    async def go() -> None:
        previews = PreviewPass()
        previews.open(socket.create_server(("127.0.0.1", 0)))
        address = previews.address
        assert address is not None
        receiver = Receiver(previews.new_pair())
        previews.started()
        await asyncio.gather(ask(address), ask(address))
        before = set(receiver.inodes)
        previews.retire()
        assert previews.retiring == before
        assert len(before) == 2
        await ask(address)
        assert previews.retiring == before  # a connection after the end is not retired
        previews.retire()
        assert previews.retiring == receiver.inodes
        previews.lost()
        assert previews.retiring == set()  # they went with HAProxy
        receiver.close()
        previews.shutdown()

    bounded(go(), 20)
