"""The benchmark suite (`make bench`): changeover's proxy against direct, HAProxy and nginx
on a tiny ASGI backend, and failed requests during deploys against other ways to replace
a service. Prints markdown tables to paste into docs/benchmarks.md.

Run: .venv/bin/python bench/run.py [--rounds 3] [--seconds 5] [--strategies rolling,...]
Invariant: the proxy targets run interleaved (direct, changeover, the peers, repeat)
against one backend process, and every process the suite starts is stopped before it
exits; a peer that is missing is skipped with a message, never faked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script from anywhere

import agent
import deploys
import peers
import proxies
import summary
import tools

BENCH = Path(__file__).resolve().parent
BACKEND = "uvicorn tinyapp:app --fd 3 --no-access-log --log-level warning"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per proxy target")
    p.add_argument("--seconds", type=float, default=5.0, help="per throughput/latency run")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--latency-rate", type=float, default=500.0, help="req/s for latency")
    p.add_argument("--latency-connections", type=int, default=8)
    p.add_argument("--idle", type=int, default=1000, help="idle keep-alive clients for RSS")
    p.add_argument("--deploy-rate", type=float, default=200.0, help="counting load, req/s")
    p.add_argument("--deploy-connections", type=int, default=16)
    p.add_argument("--settle", type=float, default=1.0, help="s of load around replacements")
    p.add_argument("--strategies", default="rolling,blue-green,canary")
    p.add_argument("--only", choices=["proxy", "deploys"], help="run one half only")
    p.add_argument("--no-install", action="store_true", help="never apt-get/pip install")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    return p.parse_args()


PEERS = (
    ("changeover-haproxy", peers.haproxy_engine),  # `[proxy] engine = "haproxy"`, 1 thread
    ("changeover-haproxy-cores", peers.haproxy_engine_cores),  # its default threads
    ("haproxy", peers.haproxy),
    ("haproxy+features", peers.haproxy_features),
    ("haproxy+promises", peers.haproxy_promises),  # what the engine promises, by hand
    ("nginx", peers.nginx),
    ("nginx+promises", peers.nginx_promises),  # the same promises, as nginx spells them
)


def proxy_part(
    a: argparse.Namespace, missing: dict[str, str], work: Path
) -> tuple[list[proxies.Sample], dict[str, tuple[int, int]]]:
    o = proxies.Options(a.seconds, a.connections, a.latency_rate, a.latency_connections)
    with agent.running(work / "proxy", BACKEND, BENCH) as ag, contextlib.ExitStack() as stack:
        backend = ag.replica_ports()[0]
        targets: dict[str, tuple[int | None, int]] = {"direct": (None, backend)}
        targets["changeover"] = (ag.pid, ag.port)
        for name, start in PEERS:
            needs = name.partition("+")[0].removeprefix("changeover-")
            if needs in missing:
                print(f"bench: skipping {name}: {missing[needs]}", flush=True)
                continue
            targets[name] = stack.enter_context(start(backend, work))
        samples = []
        for rnd in range(a.rounds):
            for name, (pid, port) in targets.items():
                s = proxies.measure(name, rnd, port, pid, o)
                samples.append(s)
                print(f"bench: round {rnd + 1} {summary.sample_line(s)}", flush=True)
        memory = {
            n: proxies.idle_rss(n, pid, port, a.idle) for n, (pid, port) in targets.items() if pid
        }
    return samples, memory


def deploy_part(a: argparse.Namespace, work: Path) -> list[deploys.Result]:
    o = deploys.Options(a.deploy_rate, a.deploy_connections, a.settle)
    results = [deploys.naive(o, work)]
    print(f"bench: {results[-1]}", flush=True)
    results.append(deploys.gunicorn(o, work))
    print(f"bench: {results[-1]}", flush=True)
    strategies = [s.strip() for s in a.strategies.split(",") if s.strip()]
    for result in deploys.changeover(o, work, strategies):
        results.append(result)
        print(f"bench: {result}", flush=True)
    return results


def main() -> int:
    a = parse()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    missing = tools.ensure(install=not a.no_install)
    machine = tools.machine()
    began = time.monotonic()
    samples: list[proxies.Sample] = []
    memory: dict[str, tuple[int, int]] = {}
    results: list[deploys.Result] = []
    with tempfile.TemporaryDirectory(prefix="changeover-bench-") as tmp:
        if a.only != "deploys":
            samples, memory = proxy_part(a, missing, Path(tmp))
        if a.only != "proxy":
            results = deploy_part(a, Path(tmp))
    print("\n## Machine\n")
    print("\n".join(f"- {k}: {v}" for k, v in machine.items()))
    print(f"- command: {' '.join(sys.argv)} ({time.monotonic() - began:.0f} s)")
    if samples:
        print(
            f"\n## Proxy ({a.rounds} round(s), medians)\n\n"
            + summary.proxy_table(samples, memory, a.idle)
        )
    if results:
        print("\n## Failed requests during three replacements\n\n" + summary.deploy_table(results))
    print("\n## Targets\n\n" + "\n".join(summary.targets(samples, memory, results)))
    if a.json:
        raw = {"machine": machine, "samples": [asdict(s) for s in samples], "memory": memory,
               "deploys": [asdict(r) for r in results]}  # fmt: skip
        a.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
