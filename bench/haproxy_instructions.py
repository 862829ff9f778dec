"""Instructions HAProxy executes per request (callgrind), for the haproxy engine's
configuration as the agent renders it, with one per-request feature taken out at a time,
beside the HAProxy baselines `make bench` runs (`haproxy_variants.py`).

    .venv/bin/python bench/haproxy_instructions.py            # every variant
    .venv/bin/python bench/haproxy_instructions.py --only engine --only plain

Invariant: each count covers exactly the measured requests of one HAProxy process
(callgrind's counters zeroed after a warm-up, dumped after the last response, as
`proxy_hotpath.py count` does), so it repeats to a fraction of a percent on a busy
machine where wall-clock CPU does not. An instruction is not a nanosecond: valgrind's
own memcpy counts a copy byte by byte where the CPU moves 32 bytes at a time, so a
feature that copies (the L7 retry's copy of the request buffer) weighs more here than
in `haproxy_engine_costs.py`'s CPU times.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import haproxy_variants
import proxy_hotpath as ph
from haproxy_engine_costs import EDITS

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy import sampling
from changeover.haproxy.engine import HaproxyEngine
from changeover.spec.models import ProxySettings

RATE = 36_000.0  # requests a second: what `bench/run.py` sees through the engine here
VARIANTS: dict[str, tuple[str, ...] | str] = {  # edits of the engine's text, or a peer
    "plain": "plain",
    "features": "features",
    "promises": "promises",
    "engine": (),
    "engine without the L7 retry": ("retry",),
    "engine without request ids": ("request-id",),
    "engine without X-Forwarded-*": ("xfwd",),
    "engine without the routing rules": ("routing",),
    "engine without the request log": ("log",),
    "engine without any of these": ("retry", "request-id", "xfwd", "routing", "log"),
}


def engine_text(folder: Path, backend: int, port: int, edits: tuple[str, ...]) -> str:
    """The configuration the agent renders (one thread, one replica), on a TCP port."""
    paths = StatePaths(folder)
    paths.ensure()
    engine = make(ProxySettings(engine="haproxy", threads=1), paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
    assert isinstance(engine, HaproxyEngine)
    engine.add_endpoint("r1-1", 1, "127.0.0.1", backend)
    engine.set_routable("r1-1", True)
    engine.write_error_pages()
    text = engine.config_text(engine.start_seed())
    for name in edits:
        for old, new in EDITS[name]:
            if old not in text:
                raise RuntimeError(f"edit {name!r}: the configuration has no {old!r}")
            text = text.replace(old, new)
    text = re.sub(r"    bind sockpair@\d+ name preview\n", "", text)
    for path in set(re.findall(r"(/[^\s(),]+\.map)", text)):
        Path(path).touch()
        if path.endswith("/" + sampling.MAP_NAME):  # "auto": the level picked at RATE
            level = sampling.needed(RATE)
            Path(path).write_text("".join(f"{k} {v}\n" for k, v in sampling.entries(level)))
    return text.replace("bind fd@3", f"bind 127.0.0.1:{port}")


def drain_log(text: str) -> socket.socket | None:
    """The agent's end of the request log: a unix listener that reads and drops."""
    found = re.search(r"unix@(\S+)", text)
    if found is None:
        return None
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sink.bind(found.group(1))
    sink.listen(4)

    def drain() -> None:
        try:
            conn, _ = sink.accept()
            while conn.recv(1 << 20):
                pass
        except OSError:
            return

    threading.Thread(target=drain, daemon=True).start()
    return sink


def count(backend: int, variant: tuple[str, ...] | str, o: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory(prefix="co-cg-") as tmp:
        folder = Path(tmp)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if isinstance(variant, str):
            text = haproxy_variants.config(variant, port, backend, "")
        else:
            text = engine_text(folder / "state", backend, port, variant)
        sink = drain_log(text)
        (folder / "h.cfg").write_text(text)
        vg = ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg"]
        argv = [*vg, "--dump-instr=no", "--separate-threads=no", "haproxy", "-db", "-f"]
        proc = subprocess.Popen([*argv, str(folder / "h.cfg")], stderr=subprocess.DEVNULL)
        try:
            ph.wait_listening(port, proc)
            dump = ph.measured_dump(proc.pid, port, folder, o)
        finally:
            ph.stop(proc)
            if sink is not None:
                sink.close()
        return ph.per_request(dump, o)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--warmup", type=int, default=2000)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--only", action="append", default=[], help="variants whose name has it")
    o = p.parse_args()
    chosen = {k: v for k, v in VARIANTS.items() if not o.only or any(w in k for w in o.only)}
    print(f"instructions per request, {o.requests} requests over {o.connections} connections")
    print("| HAProxy configuration | instructions/request |\n| --- | ---: |")
    with ph.started(ph.me("backend")) as (_, backend):
        for name, variant in chosen.items():
            print(f"| {name} | {count(backend, variant, o):,.0f} |", flush=True)


if __name__ == "__main__":
    main()
