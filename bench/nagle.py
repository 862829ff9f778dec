"""Latency through the proxy to `uvicorn --fd 3`, with and without TCP_NODELAY on the
listening socket the agent passes down (the fix in supervisor/sockets.py).

Run: .venv/bin/python bench/nagle.py [--rounds 2] [--seconds 3] [--rate 200]
Both variants run in the same process, interleaved, against the bundled example app.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import uvloop

from changeover.loadgen import run
from changeover.proxy.config import ProxyConfig
from changeover.proxy.server import Proxy

APP = Path(__file__).resolve().parents[1] / "examples" / "hello"


def start_app(nodelay: bool) -> tuple[subprocess.Popen[bytes], int]:
    sock = socket.socket()
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port: int = sock.getsockname()[1]
    fd = sock.fileno()
    if fd != 3:
        os.dup2(fd, 3)  # single-threaded script: safe to place the socket at fd 3
    argv = [sys.executable, "-m", "uvicorn", "app:app", "--fd", "3", "--no-access-log"]
    proc = subprocess.Popen([*argv, "--log-level", "warning"], cwd=APP, pass_fds=(3,))
    if fd != 3:
        os.close(3)
    sock.close()
    return proc, port


async def measure(port: int, seconds: float, rate: float) -> float:
    deadline = time.monotonic() + 20
    while True:  # wait until the app answers
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    listener = socket.create_server(("127.0.0.1", 0))
    proxy = Proxy(ProxyConfig())
    await proxy.serve(listener)
    proxy.add_endpoint("r1-1", 1, "127.0.0.1", port)
    proxy.set_routable("r1-1", True)
    host, proxy_port = proxy.address
    try:
        report = await run(
            f"http://{host}:{proxy_port}", rate=rate, connections=8, duration=seconds
        )
    finally:
        await proxy.shutdown(timeout=2)
    assert report.failed == 0, report.summary()
    assert report.latency_p50 is not None
    return report.latency_p50


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    results: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for nodelay in (False, True):
            proc, port = start_app(nodelay)
            try:
                results[nodelay].append(uvloop.run(measure(port, args.seconds, args.rate)))
            finally:
                proc.terminate()
                proc.wait()
    for nodelay, p50s in results.items():
        label = "TCP_NODELAY on listener " if nodelay else "no TCP_NODELAY (baseline)"
        print(f"{label}: p50 " + ", ".join(f"{p * 1000:.2f} ms" for p in p50s))
    ratio = min(results[False]) / max(results[True])
    print(f"baseline p50 / fixed p50 >= {ratio:.0f}x")


if __name__ == "__main__":
    main()
