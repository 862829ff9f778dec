"""Local flag evaluation per call: changeover.flags.Client vs the Unleash Python SDK.

Run: .venv/bin/python bench/flags_eval.py [--calls 20000] [--rounds 5]
Needs `UnleashClient` in the venv (`pip install UnleashClient`; for this bench only).

Both clients get the same feature document (a 10% flexibleRollout with two constraints),
offline: changeover's from `bootstrap=`, Unleash's from a bootstrapped FileCache, and neither
is given a reachable server. Both answer the same contexts (distinct users), interleaved in
the same process; the best round of each is reported, then the ratio. Before timing, the
two must agree on every user.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from typing import Any

from changeover.flags.client import Client

FLAG = "new-checkout"
DOCUMENT: dict[str, Any] = {
    "version": 2,
    "features": [
        {
            "name": FLAG,
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "10", "stickiness": "default", "groupId": FLAG},
                    "constraints": [
                        {
                            "contextName": "environment",
                            "operator": "IN",
                            "values": ["production", "staging"],
                        },
                        {"contextName": "country", "operator": "IN", "values": ["no", "se", "dk"]},
                    ],
                }
            ],
        }
    ],
}

Check = Callable[[str, dict[str, Any]], bool]


def contexts(n: int) -> list[dict[str, Any]]:
    countries = ("no", "se", "dk", "fi")
    return [
        {
            "userId": f"user-{i}",
            "environment": "production",
            "properties": {"country": countries[i % 4]},
        }
        for i in range(n)
    ]


def unleash_client(cache_dir: str) -> Any:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    cache = FileCache("flags-bench", directory=cache_dir)
    cache.bootstrap_from_dict(DOCUMENT)
    return UnleashClient(
        url="http://127.0.0.1:9/api",  # never contacted: initialize_client() is not called
        app_name="flags-bench",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
    )


def per_call_ns(check: Check, ctxs: list[dict[str, Any]]) -> float:
    started = time.perf_counter_ns()
    for ctx in ctxs:
        check(FLAG, ctx)
    return (time.perf_counter_ns() - started) / len(ctxs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    ctxs = contexts(args.calls)
    ours = Client(None, bootstrap=DOCUMENT)
    with tempfile.TemporaryDirectory() as cache_dir:
        theirs = unleash_client(cache_dir)
        checks: dict[str, Check] = {
            "changeover Client.is_enabled": ours.is_enabled,
            "UnleashClient.is_enabled": theirs.is_enabled,
        }
        answers = [[check(FLAG, c) for c in ctxs[:5000]] for check in checks.values()]
        if answers[0] != answers[1]:
            raise SystemExit(
                "the two clients disagree: the benchmark would compare apples and pears"
            )
        on = sum(answers[0]) / len(answers[0])
        print(f"agreement: 5000/5000 users, {on:.1%} enabled (10% rollout, 3 of 4 countries)")
        best = dict.fromkeys(checks, float("inf"))
        for _ in range(args.rounds):
            for name, check in checks.items():  # interleaved, so drift hits both
                best[name] = min(best[name], per_call_ns(check, ctxs))
        theirs.destroy()
    for name, ns in best.items():
        print(f"{name:32} {ns:10.0f} ns/call")
    ratio = best["UnleashClient.is_enabled"] / best["changeover Client.is_enabled"]
    print(f"changeover is {ratio:.1f}x the speed of UnleashClient (>1 is faster)")


if __name__ == "__main__":
    main()
