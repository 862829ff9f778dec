"""Command line: `python -m changeover.loadgen URL --rate R ...`.

Invariant: the exit status is 0 only if every request sent was ok (1 otherwise, 2 for
usage errors), so scripts can gate on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence

from changeover.loadgen.eventloop import run as run_loop
from changeover.loadgen.generator import LoadGenerator
from changeover.loadgen.report import Report
from changeover.loadgen.template import Template
from changeover.loadgen.trust import ca_context
from changeover.units import parse_duration


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m changeover.loadgen",
        description="Drive an HTTP URL at a fixed rate with keep-alive connections and "
        "count every outcome; never retries.",
    )
    p.add_argument("url", help="http://host:port[/base] or https://...")
    p.add_argument(
        "--cacert", help="PEM file of the CA an https:// target's certificate is trusted by"
    )
    p.add_argument(
        "--server-name",
        help="the name the target answers to: the requests' Host, and for an https:// "
        "target the name its certificate is checked for, sent as SNI (default: the URL's "
        "host; for a service reached at an address)",
    )
    p.add_argument("--rate", type=float, required=True, help="total requests per second")
    p.add_argument("--connections", type=int, default=20, help="keep-alive workers")
    p.add_argument(
        "--duration", type=_duration, help='how long to run, e.g. "60s", "15m" (default 10s)'
    )
    p.add_argument("--requests", type=int, help="stop after this many requests")
    p.add_argument(
        "--timeout", type=_duration, default=10.0, help='per-request timeout (default "10s")'
    )
    p.add_argument("--post-bytes", type=int, default=0, help="add POSTs of N bytes")
    p.add_argument("--post-path", default="/echo", help="path for the POSTs")
    p.add_argument("--check-echo", action="store_true", help="POST bodies must be echoed")
    p.add_argument("--slow-ms", type=int, default=0, help="add GET /slow?ms=N requests")
    p.add_argument("--count-header", help="count responses by this header's value")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def templates_from(args: argparse.Namespace) -> list[Template]:
    """GET / (weight 8), plus POST (weight 1) and slow GET (weight 1) when asked for."""
    mix = [Template(weight=8)]
    if args.post_bytes > 0:
        body = (b"changeover" * (args.post_bytes // 10 + 1))[: args.post_bytes]
        expect = body if args.check_echo else None
        mix.append(Template("POST", args.post_path, body, weight=1, expect=expect))
    if args.slow_ms > 0:
        mix.append(Template(path=f"/slow?ms={args.slow_ms}", weight=1))
    return mix


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None or args.requests else 10.0
    try:
        gen = LoadGenerator(
            args.url,
            rate=args.rate,
            connections=args.connections,
            duration=duration,
            requests=args.requests,
            templates=templates_from(args),
            timeout=args.timeout,
            count_header=args.count_header,
            seed=args.seed,
            ssl_context=None if args.cacert is None else ca_context(args.cacert),
            server_name=args.server_name,
        )
    except ValueError as exc:
        parser.error(str(exc))
    report, stopped = run_loop(_until_done_or_signal(gen))
    if stopped:
        print(f"stopped early by {stopped}", file=sys.stderr)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 1 if report.failed else 0


async def _until_done_or_signal(gen: LoadGenerator) -> tuple[Report, str]:
    """Run to the end, or stop at SIGINT/SIGTERM: either way, the report of what ran."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught: list[str] = []

    def on_signal(sig: signal.Signals) -> None:  # only note it: the loop does the stopping
        caught.append(sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    await gen.start()
    done = asyncio.ensure_future(gen.wait())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([done, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    report = await done if done.done() else await gen.stop()
    done.cancel()
    return report, caught[0] if caught else ""


def _duration(raw: str) -> float:
    """A duration with a unit, as everywhere in changeover; a bare number is seconds."""
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
