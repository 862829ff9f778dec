"""The agent says a certificate near its end as an event at once, then once a day, and
says the renewed one without a warning (`agent.tls.watch_files`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

from changeover.agent.tls import watch_files
from changeover.tlsfiles import Pair, start_watch
from tests.helpers import bounded, until
from tests.tlscerts import issue

CA = trustme.CA()


def test_an_ending_certificate_is_an_event_once_a_day_until_renewed(tmp_path: Path) -> None:
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    files = issue(CA, tmp_path / "tls", not_after=ends)
    clock = [datetime.now(UTC)]
    events: list[str] = []
    installed: list[Pair] = []

    async def install(pair: Pair) -> None:
        installed.append(pair)

    async def go() -> None:
        watch = start_watch(files.cert, files.key)
        task = asyncio.create_task(
            watch_files(
                watch, files.cert, files.key, install, events.append, 0.01, lambda: clock[0]
            )
        )
        try:
            await until(lambda: len(events) == 1, 10, "the warning at start")
            assert events[0].startswith("tls: the certificate (")
            assert "expires in 2 days" in events[0] or "expires in 3 days" in events[0]
            await asyncio.sleep(0.1)  # many polls: the same day says nothing more
            assert len(events) == 1
            clock[0] += timedelta(days=1)
            await until(lambda: len(events) == 2, 10, "the next day's warning")
            assert "expires in" in events[1]
            # renewed for months: taken, and no warning follows
            issue(CA, tmp_path / "tls", "renewed", not_after=ends + timedelta(days=90))
            await until(lambda: len(installed) == 1, 10, "the renewed pair taken")
            clock[0] += timedelta(days=1)
            await asyncio.sleep(0.1)
            assert [e for e in events[2:] if "tls:" in e] == []
            assert "tls certificate reloaded" in events[-1]
        finally:
            task.cancel()

    bounded(go(), 30)
