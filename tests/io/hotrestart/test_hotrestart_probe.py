"""HTTP readiness counted only when the probed generation holds the accepted socket."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from changeover.hotrestart.owner import Row, parse_table, server_inode
from changeover.hotrestart.probe import generation_pids, probe_once, status_of

SAMPLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1
   1: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000  1000        0 222 1
   2: 0100007F:A000 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 333 1
   3: 0100007F:1F90 0100007F:A001 06 00000000:00000000 03:00000000 00000000     0        0 0 3
garbage line
"""


def encode(host: str, port: int) -> str:
    """What the kernel prints: each 32-bit word of the address in host byte order."""
    raw = ipaddress.ip_address(host).packed
    words = struct.unpack(f"={len(raw) // 4}I", raw)
    return "".join(f"{w:08X}" for w in words) + f":{port:04X}"


def test_parse_table_reads_rows_and_skips_the_rest() -> None:
    rows = list(parse_table(SAMPLE))
    assert rows[0] == Row(("127.0.0.1", 8080), ("0.0.0.0", 0), 111)
    assert len(rows) == 4


def test_server_inode_picks_the_accepted_end_of_that_connection_only() -> None:
    rows = list(parse_table(SAMPLE))
    assert server_inode(rows, 8080, ("127.0.0.1", 0xA000)) == 222
    assert server_inode(rows, 8080, ("127.0.0.1", 0xA001)) is None  # inode 0: closed
    assert server_inode(rows, 8081, ("127.0.0.1", 0xA000)) is None


ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str)


@given(st.one_of(ipv4, ipv6), st.integers(0, 65535), st.integers(1, 2**32))
def test_endpoints_round_trip_through_the_kernel_format(host: str, port: int, inode: int) -> None:
    line = f"   0: {encode(host, port)} {encode(host, 1)} 01 0:0 0:0 0 0 0 {inode} 1"
    assert list(parse_table(line)) == [Row((host, port), (host, 1), inode)]


def test_status_of() -> None:
    assert status_of(b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n") == 204
    assert status_of(b"HTTP/1.0 503\r\n\r\n") == 503
    assert status_of(b"SSH-2.0\r\n\r\n") is None
    assert status_of(b"HTTP/1.1 abc\r\n\r\n") is None


async def serve(status: int, *, close: bool = False) -> asyncio.Server:
    """A server in this process answering every request with `status`: on a kept-alive
    connection, or (`close`) closing it right after the answer, as gunicorn's sync
    workers do."""
    answer = f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n"
    answer += "Connection: close\r\n\r\n" if close else "\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(answer.encode())
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def probe(status: int, pids: set[int], *, close: bool = False) -> int | None:
    server = await serve(status, close=close)
    async with server:
        port = server.sockets[0].getsockname()[1]
        return await probe_once(("127.0.0.1", port), "/readyz", lambda: pids)


def test_probe_reports_the_status_the_generation_answered() -> None:
    me = {os.getpid()}
    assert asyncio.run(probe(200, me)) == 200
    assert asyncio.run(probe(302, me)) == 302
    assert asyncio.run(probe(503, me)) == 503


def test_probe_counts_a_server_that_closes_right_after_answering() -> None:
    # The holder is looked up before the request is sent, while the server waits for it.
    assert asyncio.run(probe(200, {os.getpid()}, close=True)) == 200


def test_probe_ignores_answers_from_another_generation() -> None:
    assert asyncio.run(probe(200, {1})) is None  # pid 1 does not hold our server's socket
    assert asyncio.run(probe(200, {1}, close=True)) is None


def test_probe_of_a_connection_nobody_accepts_is_no_answer_within_its_bound() -> None:
    async def unaccepted() -> tuple[int | None, float]:
        with socket.socket() as sock:  # listening, but nobody calls accept()
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            loop = asyncio.get_running_loop()
            began = loop.time()
            status = await probe_once(sock.getsockname(), "/", lambda: {os.getpid()}, within=0.3)
            return status, loop.time() - began

    status, took = asyncio.run(unaccepted())
    assert status is None
    assert took < 5  # the bound held (generous: only a hang fails this)


def test_probe_of_a_closed_port_is_no_answer() -> None:
    async def closed() -> bool | None:
        server = await serve(200)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return await probe_once(("127.0.0.1", port), "/", lambda: {os.getpid()})

    assert asyncio.run(closed()) is None


def test_generation_pids_include_the_main_process() -> None:
    assert os.getpid() in generation_pids(os.getpid())
    assert generation_pids(2**22 + 12345) == set()
