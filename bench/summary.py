"""Medians, ratios to direct and the targets, as markdown tables (pure: values in, text out).

Invariant: a ratio or an added latency is computed per round against the direct
measurement of the same round, then the median is taken, so slow drift of a shared
machine cancels out instead of favouring whichever target ran in a quiet moment.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from deploys import Result
from proxies import Sample

MB = 1024 * 1024


def sample_line(s: Sample) -> str:
    """One measurement, for the progress output."""
    return (
        f"{s.target}: {s.rps:.0f} req/s, p50 {_f(s.p50, '{:.3f}', 1000)} ms, "
        f"p99 {_f(s.p99, '{:.3f}', 1000)} ms, errors {s.errors}"
    )


def per_round(samples: Sequence[Sample], target: str) -> dict[int, Sample]:
    return {s.round: s for s in samples if s.target == target}


def paired(samples: Sequence[Sample], target: str, value: str, op: str) -> float | None:
    """Median over rounds of target's value compared with direct's (ratio or difference)."""
    mine, base = per_round(samples, target), per_round(samples, "direct")
    pairs = [(getattr(mine[r], value), getattr(base[r], value)) for r in mine if r in base]
    pairs = [(a, b) for a, b in pairs if a is not None and b]
    if not pairs:
        return None
    return float(statistics.median(a / b if op == "ratio" else a - b for a, b in pairs))


def median(samples: Sequence[Sample], target: str, value: str) -> float | None:
    values = [getattr(s, value) for s in per_round(samples, target).values()]
    values = [v for v in values if v is not None]
    return float(statistics.median(values)) if values else None


def proxy_table(samples: Sequence[Sample], memory: dict[str, tuple[int, int]], idle: int) -> str:
    targets = list(dict.fromkeys(s.target for s in samples))
    haproxy_cpu = median(samples, "haproxy", "cpu_per_request")
    rows = [
        "| target | req/s | x direct | p50 ms | added p50 ms | p99 ms | added p99 ms "
        f"| CPU us/req | x HAProxy CPU | RSS MB idle / {idle:,} conns | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in targets:
        cpu = median(samples, t, "cpu_per_request")
        rss = memory.get(t)
        cells = [
            t,
            _f(median(samples, t, "rps"), "{:.0f}"),
            _f(paired(samples, t, "rps", "ratio"), "{:.2f}"),
            _f(median(samples, t, "p50"), "{:.3f}", 1000),
            _f(paired(samples, t, "p50", "diff"), "{:+.3f}", 1000) if t != "direct" else "-",
            _f(median(samples, t, "p99"), "{:.3f}", 1000),
            _f(paired(samples, t, "p99", "diff"), "{:+.3f}", 1000) if t != "direct" else "-",
            _f(cpu, "{:.1f}", 1e6),
            _f(cpu / haproxy_cpu if cpu and haproxy_cpu else None, "{:.2f}"),
            f"{rss[0] / MB:.1f} / {rss[1] / MB:.1f}" if rss else "-",
            str(sum(s.errors for s in samples if s.target == t)),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def deploy_table(results: Sequence[Result]) -> str:
    rows = [
        "| method | replacements | requests | failed | failures by kind | note |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        kinds = ", ".join(f"{k} {n}" for k, n in r.kinds.items()) or "-"
        counts = [str(r.sent), str(r.failed), kinds]
        if r.note.startswith("skipped"):
            counts = ["-", "-", "-"]  # the load ran, but nothing was replaced
        cells = [r.method, str(r.replacements), *counts, r.note or "-"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def targets(
    samples: Sequence[Sample], memory: dict[str, tuple[int, int]], results: Sequence[Result]
) -> list[str]:
    """One line per target of the issue: measured value, and met / missed / not measured."""
    cpu, ha = (
        median(samples, "changeover", "cpu_per_request"),
        median(samples, "haproxy", "cpu_per_request"),
    )
    rss = memory.get("changeover")
    checks = [
        (
            "throughput >= 0.75 x direct",
            paired(samples, "changeover", "rps", "ratio"),
            ">=",
            0.75,
            "{:.2f}x",
        ),
        (
            "added p50 <= 0.3 ms",
            _ms(paired(samples, "changeover", "p50", "diff")),
            "<=",
            0.3,
            "{:.3f} ms",
        ),
        (
            "added p99 <= 1 ms",
            _ms(paired(samples, "changeover", "p99", "diff")),
            "<=",
            1.0,
            "{:.3f} ms",
        ),
        ("CPU/request <= 1.2 x HAProxy", cpu / ha if cpu and ha else None, "<=", 1.2, "{:.2f}x"),
        (
            "RSS < 100 MB with 1,000 idle clients",
            rss[1] / MB if rss else None,
            "<",
            100,
            "{:.1f} MB",
        ),
    ]
    checks += _engine_checks(samples)
    lines = [_check(*c) for c in checks]
    for r in results:
        if r.method.startswith("changeover"):
            measured = None if r.note.startswith("skipped") else float(r.failed)
            lines.append(_check(f"{r.method}: 0 failed requests", measured, "<=", 0, "{:.0f}"))
    return lines


# Issue 20's goals for the haproxy engine, against each peer as (peer target, its name):
# plain HAProxy and nginx as the issue names them, then the same peers doing the engine's
# per-request work (request ids, X-Forwarded-*, the retry), so that what is compared is
# the engine, not the work. (what, the samples' field, op, limit)
ENGINE_GOALS = (
    (("haproxy", "plain HAProxy"), ("throughput", "rps", ">=", 0.95)),
    (("haproxy", "plain HAProxy"), ("CPU/request", "cpu_per_request", "<=", 1.05)),
    (("nginx", "nginx"), ("throughput", "rps", ">=", 1.0)),
    (("haproxy+promises", "HAProxy + promises"), ("throughput", "rps", ">=", 0.95)),
    (("haproxy+promises", "HAProxy + promises"), ("CPU/request", "cpu_per_request", "<=", 1.05)),
    (("nginx+promises", "nginx + promises"), ("throughput", "rps", ">=", 1.0)),
)


def _engine_checks(samples: Sequence[Sample]) -> list[tuple[str, float | None, str, float, str]]:
    checks = []
    for (peer, name), (what, field, op, limit) in ENGINE_GOALS:
        mine, theirs = median(samples, "changeover-haproxy", field), median(samples, peer, field)
        factor = "" if limit == 1.0 else f"{limit:g} x "
        value = mine / theirs if mine and theirs else None
        checks.append((f"haproxy engine {what} {op} {factor}{name}", value, op, limit, "{:.2f}x"))
    return checks


def _check(name: str, value: float | None, op: str, limit: float, fmt: str) -> str:
    if value is None:
        return f"- {name}: not measured"
    ok = {"<=": value <= limit, ">=": value >= limit, "<": value < limit}[op]
    return f"- {name}: {fmt.format(value)} ({'met' if ok else 'MISSED'})"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _f(value: float | None, fmt: str, scale: float = 1.0) -> str:
    return "-" if value is None else fmt.format(value * scale)
