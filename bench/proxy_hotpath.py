"""The proxy's hot path, measured: instructions per request (callgrind), a cProfile of
the proxy process, wall-clock ratios against direct (wrk), and memory with idle clients.

Invariant: every number compares like with like. Instruction counts cover exactly the
measured requests of one proxy process (callgrind's counters are zeroed after a warm-up
and dumped after the last response, with callgrind_control), so they repeat to a
fraction of a percent on a busy machine; wall-clock runs interleave every target round
by round (direct, each proxy, HAProxy) and report medians with their range.

    .venv/bin/python bench/proxy_hotpath.py count --policy plain --policy canary --floor
    .venv/bin/python bench/proxy_hotpath.py count --impl before=/tmp/before --impl now=
    .venv/bin/python bench/proxy_hotpath.py count --impl now= --access-log now
    .venv/bin/python bench/proxy_hotpath.py profile --requests 20000
    .venv/bin/python bench/proxy_hotpath.py wall --rounds 5 --impl before=/tmp/before --impl now=
    .venv/bin/python bench/proxy_hotpath.py memory --idle 1000

`--impl NAME=DIR` runs the proxy from another tree (DIR holds a `changeover` package, for
example `git archive HEAD src/changeover | tar -x --strip-components=1 -C DIR`); an
empty DIR is this checkout's src/ (not whatever changeover the venv has installed: a venv
shared by several worktrees has one editable install, of another tree). `--floor` adds a
bare uvloop+httptools relay (no validation, routing, pooling rules, timeouts or metrics):
the least this design can cost. `--access-log NAME` adds `NAME+log`: the --impl NAME with
its access log on (written to a temporary file; `count` lets a sweep write the waiting
lines before it dumps the counters, so their formatting and writing are counted).
Internal modes (backend, proxy, floor, client, idle) are the processes the others start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from haproxy_variants import VARIANTS
from haproxy_variants import config as haproxy_config

HERE = Path(__file__).resolve()
SRC = HERE.parent.parent / "src"  # this checkout's package, for `--impl NAME=`
PY = sys.executable
SETTLE = 1.0  # seconds before the counters are dumped: several proxy sweeps (0.25 s)
LOCAL = "127.0.0.1"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: raw\r\n"
    b"content-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
)
# A browser-like request: enough headers that head handling shows in the counts.
REQUEST = (
    b"GET /api/items?page=2 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: hotpath/1.0\r\n"
    b"Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\n"
    b"Accept-Language: en-GB,en;q=0.9\r\nCookie: session=abc123; user=u%d\r\n\r\n"
)


def nodelay(transport: Any) -> None:
    transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def until_signalled() -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish)
    await done


async def listen(factory: Any) -> None:
    """Serve on an ephemeral port, print it, run until SIGTERM."""
    server = await asyncio.get_running_loop().create_server(factory, LOCAL, 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await until_signalled()
    server.close()


# -- the raw backend, the floor relay, the proxy under test --------------------------------


class RawBackend(asyncio.Protocol):
    """Answers each request head with the same small response (GETs only: no bodies)."""

    def connection_made(self, transport: Any) -> None:
        self.transport, self.buf = transport, b""
        nodelay(transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        count = buf.count(b"\r\n\r\n")
        self.buf = buf[buf.rfind(b"\r\n\r\n") + 4 :] if count else buf
        if count:
            self.transport.write(RESPONSE * count)


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The uvicorn backend (`--backend-kind uvicorn`): 200 "ok", like bench/tinyapp.py."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


class FloorUp(asyncio.Protocol):
    """The floor relay's upstream side: status line and headers copied, body relayed."""

    def __init__(self, down: FloorDown) -> None:
        import httptools

        self.down, self.out = down, [b""]
        self.headers: list[tuple[bytes, bytes]] = []
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        nodelay(transport)

    def data_received(self, data: bytes) -> None:
        self.out = []
        self.parser.feed_data(data)
        if not self.down.transport.is_closing():
            self.down.transport.writelines(self.out)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parts = [b"HTTP/1.1 %d OK\r\n" % self.parser.get_status_code()]
        for name, value in self.headers:
            parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        self.headers = []
        self.out.append(b"".join(parts))

    def on_body(self, body: bytes) -> None:
        self.out.append(body)


class FloorDown(asyncio.Protocol):
    """The floor relay's client side: one upstream connection per client connection."""

    def __init__(self, backend: int) -> None:
        import httptools

        self.backend, self.url = backend, b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.up: FloorUp | None = None
        self.parser = httptools.HttpRequestParser(self)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        nodelay(transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None:
            self.up.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parts = [self.parser.get_method(), b" ", self.url, b" HTTP/1.1\r\n"]
        for name, value in self.headers:
            parts += (name, b": ", value, b"\r\n")
        parts.append(b"X-Forwarded-For: 127.0.0.1\r\n\r\n")
        self.headers = []
        head = b"".join(parts)
        if self.up is None:
            asyncio.get_running_loop().create_task(self._connect(head))
        else:
            self.up.transport.write(head)

    async def _connect(self, head: bytes) -> None:
        loop = asyncio.get_running_loop()
        _, self.up = await loop.create_connection(lambda: FloorUp(self), LOCAL, self.backend)
        self.up.transport.write(head)


async def serve_proxy(backend: int, policy: str, profile: str | None, access_log: str) -> None:
    from changeover.proxy.config import ProxyConfig
    from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy
    from changeover.proxy.server import Proxy

    proxy = Proxy(ProxyConfig(access_log=access_log)) if access_log else Proxy()
    sock = socket.socket()
    sock.bind((LOCAL, 0))
    sock.listen(4096)
    sock.setblocking(False)
    await proxy.serve(sock)
    proxy.add_endpoint("r1-1", 1, LOCAL, backend)
    proxy.set_routable("r1-1", True)
    if policy == "canary":  # a canary at 10%: a header route, sticky cookie, weights
        proxy.add_endpoint("r2-1", 2, LOCAL, backend)
        proxy.set_routable("r2-1", True)
        route = HeaderRoute("X-Canary", 2, value="always")
        proxy.set_traffic(TrafficPolicy({1: 90, 2: 10}, (route,), Sticky("cookie", "user")))
    print(proxy.address[1], flush=True)
    profiler: Any = None
    if profile:  # enabled on SIGUSR1, after the warm-up; written on exit
        import cProfile

        profiler = OpcodeCounter() if profile.endswith(".opcodes") else cProfile.Profile()
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, profiler.enable)
    await until_signalled()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    await proxy.shutdown(1.0)


class OpcodeCounter:
    """Bytecodes executed and calls made per function of changeover's code: the
    interpreter's work, exact and repeatable (sys.settrace with opcode events)."""

    def __init__(self) -> None:
        self.ops: dict[str, int] = {}
        self.calls: dict[str, int] = {}

    def enable(self) -> None:
        sys.settrace(self._call)

    def disable(self) -> None:
        sys.settrace(None)

    def _call(self, frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code
        if event != "call" or "changeover" not in code.co_filename:
            return None
        name = f"{Path(code.co_filename).name}:{code.co_firstlineno} {code.co_name}"
        self.calls[name] = self.calls.get(name, 0) + 1
        frame.f_trace_opcodes = True
        return self._opcode

    def _opcode(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "opcode":
            code = frame.f_code
            name = f"{Path(code.co_filename).name}:{code.co_firstlineno} {code.co_name}"
            self.ops[name] = self.ops.get(name, 0) + 1
        return self._opcode

    def dump_stats(self, path: str) -> None:
        rows = [f"{n}\t{self.calls.get(name, 0)}\t{name}" for name, n in self.ops.items()]
        Path(path).write_text("\n".join(rows))


# -- clients --------------------------------------------------------------------------------


async def drive(port: int, requests: int, connections: int) -> None:
    """Closed loop: each connection sends one request, reads the response, repeats."""
    per = [requests // connections + (i < requests % connections) for i in range(connections)]
    await asyncio.gather(*(_requests(port, n, i) for i, n in enumerate(per) if n))


async def _requests(port: int, count: int, user: int) -> None:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    nodelay(writer.transport)
    for _ in range(count):
        await _exchange(reader, writer, user)
    writer.close()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, user: int) -> None:
    writer.write(REQUEST % user)
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if not head.startswith(b"HTTP/1.1 200") or length is None:
        raise RuntimeError(f"unexpected response: {head[:80]!r}")
    await reader.readexactly(int(length.group(1)))


class LogSink(asyncio.DatagramProtocol):
    """What an agent reading HAProxy's request log would do per line: parse status and
    latency, count them into changeover's histogram cells."""

    def __init__(self) -> None:
        from changeover.proxy.metrics import RevisionStats

        self.stats = RevisionStats()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # "<134>Nov 21 10:00:00 haproxy[42]: b s1 200 3"
        _, status, elapsed = data.rsplit(b" ", 2)
        self.stats.completed(int(status), int(elapsed) / 1000)


async def log_sink(path: str) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(path)
    await asyncio.get_running_loop().create_datagram_endpoint(LogSink, sock=sock)
    print(0, flush=True)
    await until_signalled()


async def idle_clients(port: int, count: int) -> None:
    """`count` keep-alive connections, each after one request, idle until SIGTERM."""
    kept: list[Any] = []
    for start in range(0, count, 50):  # batches: the proxy never needs 1,000 upstreams
        kept += await asyncio.gather(*(_one_idle(port) for _ in range(min(50, count - start))))
    print("ready", flush=True)
    await until_signalled()


async def _one_idle(port: int) -> Any:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    await _exchange(reader, writer, 0)
    return writer


def internal(o: argparse.Namespace) -> None:
    import uvloop

    if o.mode == "proxy" and o.impl_dir:
        sys.path.insert(0, o.impl_dir)  # before changeover is first imported
    uvloop.run(
        {
            "backend": lambda: listen(RawBackend),
            "floor": lambda: listen(lambda: FloorDown(o.backend)),
            "proxy": lambda: serve_proxy(o.backend, o.policy[0], o.profile, o.access_log_file),
            "client": lambda: drive(o.port, o.requests, o.connections),
            "idle": lambda: idle_clients(o.port, o.idle),
            "logsink": lambda: log_sink(o.log_socket),
        }[o.mode]()
    )


# -- starting and stopping processes --------------------------------------------------------


@contextlib.contextmanager
def started(argv: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[int, int]]:
    """(pid, port) of a child that prints its port first; stopped by pid afterwards."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"{argv[:4]} did not start (it printed {line!r})")
        yield proc.pid, int(line)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def me(*args: str) -> list[str]:
    return [PY, str(HERE), *args]


def targets(o: argparse.Namespace, backend: int, policy: str) -> dict[str, list[str]]:
    """name -> argv of each proxy to measure: the --impl trees (each followed by its
    access-log variant when asked for), then the floor relay."""
    found: dict[str, list[str]] = {}
    impls = o.impl or ["current="]
    unknown = set(o.access_log or ()) - {value.partition("=")[0] for value in impls}
    if unknown:
        raise SystemExit(f"--access-log {', '.join(sorted(unknown))}: no --impl of that name")
    for value in impls:
        name, sep, path = value.partition("=")
        if not sep or not name:
            raise SystemExit(f"--impl must look like NAME=DIR (DIR may be empty), got {value!r}")
        path = path or str(SRC)
        if not (Path(path) / "changeover" / "proxy").is_dir():
            raise SystemExit(f"--impl {name}: {path}/changeover/proxy is not a directory")
        argv = me("proxy", "--backend", str(backend), "--policy", policy)
        found[name] = [*argv, "--impl-dir", path]
        if name in (o.access_log or ()):
            log = Path(o.log_dir, f"{name}-access.log")
            found[f"{name}+log"] = [*found[name], "--access-log-file", str(log)]
    if o.floor:
        found["floor"] = me("floor", "--backend", str(backend))
    return found


def run_client(port: int, requests: int, connections: int) -> None:
    argv = me("client", "--port", str(port), "--requests", str(requests))
    subprocess.run([*argv, "--connections", str(connections)], check=True, timeout=3600)


# -- count: instructions per request under callgrind ----------------------------------------


def count(o: argparse.Namespace) -> None:
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        raise SystemExit("count needs valgrind (apt-get install -y valgrind)")
    print(
        f"instructions per request in the proxy process (callgrind, Ir): {o.requests} "
        f"requests over {o.connections} keep-alive connections after {o.warmup} warm-up"
    )
    with started(me("backend")) as (_, backend):
        for policy in o.policy:
            for name, argv in targets(o, backend, policy).items():
                runs = [instructions(argv, o) for _ in range(o.repeat)]
                spread = ", ".join(f"{r:,.0f}" for r in runs)
                print(f"{policy:7} {name:10} {statistics.median(runs):10,.0f}   runs: {spread}")
        for variant in o.haproxy or []:  # the peer's own process; its log sink is not counted
            runs = [haproxy_instructions(backend, variant, o) for _ in range(o.repeat)]
            spread = ", ".join(f"{r:,.0f}" for r in runs)
            name = haproxy_name(variant)
            print(f"{'-':7} {name:10} {statistics.median(runs):10,.0f}   runs: {spread}")


def instructions(argv: list[str], o: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        vg = ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg"]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        with started([*vg, "--dump-instr=no", *argv], env) as (pid, port):
            dump = measured_dump(pid, port, Path(tmp), o)
    return per_request(dump, o)


def haproxy_instructions(backend: int, variant: str, o: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        vg = ("valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg")
        with haproxy(backend, variant, (*vg, "--dump-instr=no")) as found:
            if found is None:
                raise SystemExit("count --haproxy needs haproxy (apt-get install -y haproxy)")
            (pid, *_), port = found
            dump = measured_dump(pid, port, Path(tmp), o)
    return per_request(dump, o)


def measured_dump(pid: int, port: int, tmp: Path, o: argparse.Namespace) -> str:
    """Warm up, zero callgrind's counters, run the measured requests, dump the counters."""
    run_client(port, o.warmup, o.connections)
    time.sleep(SETTLE)  # the warm-up's access log lines are written before, not counted
    callgrind(pid, "--zero")
    run_client(port, o.requests, o.connections)
    time.sleep(SETTLE)  # a sweep runs: the access log's waiting lines are written, counted
    callgrind(pid, "--dump")
    return sorted(tmp.glob("cg.*"))[-1].read_text()


def per_request(dump: str, o: argparse.Namespace) -> float:
    total = re.search(r"^(?:totals|summary): (\d+)", dump, re.MULTILINE)
    if total is None:
        raise RuntimeError("callgrind dump without totals")
    return int(total.group(1)) / int(o.requests)


def callgrind(pid: int, what: str) -> None:
    argv = ["callgrind_control", what, str(pid)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"callgrind_control {what} failed: {done.stdout}{done.stderr}")


# -- profile: where the proxy's time goes ---------------------------------------------------


def profile(o: argparse.Namespace) -> None:
    import pstats

    kind = "opcodes" if o.opcodes else "cprofile"
    with tempfile.TemporaryDirectory() as tmp, started(me("backend")) as (_, backend):
        for name, argv in targets(o, backend, o.policy[0]).items():
            if name == "floor":
                continue  # not changeover's code
            with started([*argv, "--profile", f"{tmp}/{name}.{kind}"]) as (pid, port):
                run_client(port, o.warmup, o.connections)
                os.kill(pid, signal.SIGUSR1)
                time.sleep(0.2)
                run_client(port, o.requests, o.connections)
                time.sleep(SETTLE)  # the access log's waiting lines are written
            if o.opcodes:
                print_opcodes(Path(f"{tmp}/{name}.{kind}"), name, o)
                continue
            print(f"{name}: cProfile of {o.requests} requests ({o.policy[0]}), by own time")
            pstats.Stats(f"{tmp}/{name}.{kind}").sort_stats("tottime").print_stats(o.top)


def print_opcodes(path: Path, name: str, o: argparse.Namespace) -> None:
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    rows.sort(key=lambda row: -int(row[0]))
    ops = sum(int(row[0]) for row in rows) / o.requests
    calls = sum(int(row[1]) for row in rows) / o.requests
    print(f"{name} ({o.policy[0]}): {ops:,.0f} bytecodes in {calls:.0f} calls per request")
    print("| bytecodes/request | calls/request | function |\n| ---: | ---: | --- |")
    for ops_n, calls_n, where in rows[: o.top]:
        print(f"| {int(ops_n) / o.requests:.0f} | {int(calls_n) / o.requests:.1f} | `{where}` |")


# -- wall: wrk ratios, open-loop latency, CPU per request, interleaved round by round -------


@contextlib.contextmanager
def backend_process(kind: str) -> Iterator[tuple[int, int]]:
    """(pid, port): the raw uvloop backend, or uvicorn on a pre-bound TCP_NODELAY socket."""
    if kind == "raw":
        with started(me("backend")) as found:
            yield found
        return
    sock = socket.socket()
    sock.bind((LOCAL, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the supervisor does
    sock.listen(4096)
    fd = str(sock.fileno())
    argv = [PY, "-m", "uvicorn", "--fd", fd, "--app-dir", str(HERE.parent), "--no-access-log"]
    proc = subprocess.Popen(
        [*argv, "--log-level", "warning", f"{HERE.stem}:asgi_app"], pass_fds=(sock.fileno(),)
    )
    try:
        port = sock.getsockname()[1]
        sock.close()
        wait_listening(port, proc)
        yield proc.pid, port
    finally:
        stop(proc)


@contextlib.contextmanager
def haproxy(
    backend: int, variant: str = "plain", wrap: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[int, ...], int] | None]:
    """((pids...), port) of one HAProxy variant (and its log sink), or None without it."""
    path = shutil.which("haproxy", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if path is None:
        yield None
        return
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        probe = stack.enter_context(socket.socket())
        probe.bind((LOCAL, 0))
        port = probe.getsockname()[1]
        probe.close()  # HAProxy binds it next: a race only a busy machine could lose
        log = f"{tmp}/log.sock"
        pids: tuple[int, ...] = ()
        if variant.startswith("features-log"):
            sink, _ = stack.enter_context(started(me("logsink", "--log-socket", log)))
            pids = (sink,)
        Path(tmp, "h.cfg").write_text(haproxy_config(variant, port, backend, log))
        proc = subprocess.Popen([*wrap, path, "-db", "-f", f"{tmp}/h.cfg"])
        try:
            wait_listening(port, proc)
            yield (proc.pid, *pids), port
        finally:
            stop(proc)


def wait_listening(port: int, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOCAL, port), 0.5):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {LOCAL}:{port}")


def cpu_seconds(pids: int | tuple[int, ...] | None) -> tuple[float, float]:
    """(user, system) CPU time of the processes (zeros for direct, which has no proxy)."""
    user = system = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in (pids,) if isinstance(pids, int) else pids or ():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11]) / tick
        system += int(fields[12]) / tick
    return user, system


def run_wrk(port: int, seconds: float, connections: int) -> tuple[float, int, int]:
    """(requests/s, requests, errors) of wrk with one thread, closed loop, keep-alive."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", f"http://{LOCAL}:{port}/"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    return float(rps.group(1)), int(total.group(1)), errors


def open_loop(port: int, rate: float, seconds: float) -> tuple[float, float, int]:
    """(p50, p99, failed): changeover's load generator at a fixed rate, 8 connections."""
    import uvloop

    from changeover.loadgen import run

    url = f"http://{LOCAL}:{port}/"
    report = uvloop.run(run(url, rate=rate, connections=8, duration=seconds))
    if report.latency_p50 is None or report.latency_p99 is None:
        raise RuntimeError(f"no successful request to port {port}")
    return report.latency_p50, report.latency_p99, report.failed


def wall(o: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wall needs wrk (apt-get install -y wrk)")
    rows: dict[str, list[dict[str, float]]] = {}
    with backend_process(o.backend_kind) as (_, port), contextlib.ExitStack() as stack:
        live: dict[str, tuple[int | tuple[int, ...] | None, int]] = {"direct": (None, port)}
        for name, argv in targets(o, port, o.policy[0]).items():
            live[name] = stack.enter_context(started(argv))
        for variant in [] if o.no_haproxy else o.haproxy or ["plain"]:
            peer = stack.enter_context(haproxy(port, variant))
            if peer is not None:
                live[haproxy_name(variant)] = peer
        for _, target in live.values():
            run_wrk(target, 1, o.wrk_connections)  # warm-up: pools filled, code paths hot
        for rnd in range(o.rounds):
            for name, (pid, target) in live.items():
                rows.setdefault(name, []).append(sample(pid, target, o))
            print(f"round {rnd + 1}/{o.rounds} done", flush=True)
    print_wall(rows, o)


def haproxy_name(variant: str) -> str:
    return "haproxy" if variant == "plain" else f"haproxy+{variant}"


def sample(pid: int | tuple[int, ...] | None, port: int, o: argparse.Namespace) -> dict[str, float]:
    user, system = cpu_seconds(pid)
    rps, total, errors = run_wrk(port, o.seconds, o.wrk_connections)
    user_after, system_after = cpu_seconds(pid)
    p50, p99, failed = open_loop(port, o.rate, o.seconds)
    found = {"rps": rps, "p50": p50, "p99": p99, "err": errors + failed}
    found["user"] = (user_after - user) / total * 1e6
    found["sys"] = (system_after - system) / total * 1e6
    found["cpu"] = found["user"] + found["sys"]
    return found


def print_wall(rows: dict[str, list[dict[str, float]]], o: argparse.Namespace) -> None:
    direct, peer = rows["direct"], rows.get("haproxy")
    print(
        f"\nwrk -t1 -c{o.wrk_connections} -d{o.seconds:g}s, then {o.rate:g} req/s open loop "
        f"over 8 connections; backend {o.backend_kind}; {o.rounds} rounds, interleaved; "
        "median (min-max) of per-round values"
    )
    print(
        "| target | req/s | x direct | added p50 ms | added p99 ms | CPU us/req | user / sys"
        " | x HAProxy CPU | errors |"
    )
    print("| --- |" + " ---: |" * 8)
    for name, runs in rows.items():
        pairs = list(zip(runs, direct, strict=True))
        cells = [spread([r["rps"] for r in runs], "{:,.0f}")]
        cells.append(spread([r["rps"] / d["rps"] for r, d in pairs], "{:.2f}"))
        if name == "direct":
            cells += ["-"] * 5
        else:
            cells.append(spread([(r["p50"] - d["p50"]) * 1e3 for r, d in pairs], "{:.3f}"))
            cells.append(spread([(r["p99"] - d["p99"]) * 1e3 for r, d in pairs], "{:.3f}"))
            cells.append(spread([r["cpu"] for r in runs], "{:.1f}"))
            user = statistics.median(r["user"] for r in runs)
            cells.append(f"{user:.1f} / {statistics.median(r['sys'] for r in runs):.1f}")
            ratio = [r["cpu"] / p["cpu"] for r, p in zip(runs, peer or [], strict=False)]
            cells.append(spread(ratio, "{:.2f}") if ratio else "-")
        cells.append(str(int(sum(r["err"] for r in runs))))
        print(f"| {name} | " + " | ".join(cells) + " |")


def spread(values: list[float], fmt: str) -> str:
    mid = fmt.format(statistics.median(values))
    return (
        mid if len(values) == 1 else f"{mid} ({fmt.format(min(values))}-{fmt.format(max(values))})"
    )


# -- memory: RSS with idle keep-alive clients ----------------------------------------------


def memory(o: argparse.Namespace) -> None:
    import psutil

    with started(me("backend")) as (_, backend):
        for name, argv in targets(o, backend, o.policy[0]).items():
            with started(argv) as (pid, port):
                before = psutil.Process(pid).memory_info().rss
                clients = subprocess.Popen(
                    me("idle", "--port", str(port), "--idle", str(o.idle)),
                    stdout=subprocess.PIPE,
                    text=True,
                )
                try:
                    assert clients.stdout is not None
                    if clients.stdout.readline().strip() != "ready":
                        raise RuntimeError("the idle clients did not all connect")
                    time.sleep(0.5)  # let the proxy settle: pools trimmed, buffers freed
                    after = psutil.Process(pid).memory_info().rss
                finally:
                    stop(clients)
            print(
                f"{name}: RSS {before / 2**20:.1f} MB idle, {after / 2**20:.1f} MB with "
                f"{o.idle} idle keep-alive clients"
            )


# -- command line ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    modes = {"count": count, "profile": profile, "wall": wall, "memory": memory}
    internals = ["backend", "floor", "proxy", "client", "idle", "logsink"]
    parser.add_argument("mode", choices=[*modes, *internals])
    add = parser.add_argument
    add("--impl", action="append", default=[], help="NAME=DIR, repeatable (default: current=)")
    add("--floor", action="store_true", help="also measure the bare uvloop+httptools relay")
    add("--policy", action="append", choices=("plain", "canary"), help="repeatable (count)")
    add("--requests", type=int, default=4000, help="measured requests (count, profile)")
    add("--warmup", type=int, default=1000, help="requests before measuring")
    add("--connections", type=int, default=8, help="client connections (count, profile)")
    add("--repeat", type=int, default=1, help="count: runs per target")
    add("--top", type=int, default=40, help="profile: functions shown")
    add("--opcodes", action="store_true", help="profile: count bytecodes, not time")
    add("--rounds", type=int, default=3, help="wall: interleaved rounds")
    add("--seconds", type=float, default=5.0, help="wall: seconds per wrk / latency run")
    add("--wrk-connections", type=int, default=32, help="wall: wrk connections")
    add("--rate", type=float, default=500.0, help="wall: latency run, requests/s")
    add("--backend-kind", choices=("uvicorn", "raw"), default="uvicorn", help="wall backend")
    add("--no-haproxy", action="store_true", help="wall: leave HAProxy out")
    add("--haproxy", action="append", choices=VARIANTS, help="HAProxy variants (wall: plain)")
    add("--log-socket", help=argparse.SUPPRESS)
    add("--access-log", action="append", metavar="NAME", help="also NAME+log: its access log on")
    add("--access-log-file", default="", help=argparse.SUPPRESS)
    add("--idle", type=int, default=1000, help="memory: idle keep-alive clients")
    for hidden in ("--backend", "--port"):
        add(hidden, type=int, help=argparse.SUPPRESS)
    add("--impl-dir", default="", help=argparse.SUPPRESS)
    add("--profile", help=argparse.SUPPRESS)
    o = parser.parse_args()
    o.policy = o.policy or ["plain"]
    if o.mode in modes:
        with tempfile.TemporaryDirectory(prefix="hotpath-logs-") as o.log_dir:
            modes[o.mode](o)
    else:
        internal(o)


if __name__ == "__main__":
    main()
