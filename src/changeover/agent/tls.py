"""The certificate files `[proxy] tls` names, watched while the agent serves.

Invariant: the engine is given a new pair only once both files hold a valid, matching
pair that differs from the serving one (`tlsfiles.Watch` decides); connections already
open keep theirs. Every outcome is one `agent` event naming the certificate by subject,
not-after and sha256 fingerprint, or saying why the files were not taken: a refused
content (half-written, mismatched) is said once, the old pair serves on, and the next
change of the files is tried again. No event or log line holds key material. A
certificate near or past its end is said at once and then once a day
(`tlsfiles.Reminder`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from changeover.tlsfiles import Pair, Refuse, Reminder, Take, Watch, look

log = logging.getLogger("changeover.agent")

POLL = 1.0  # seconds between two looks at the files' stamps (a stat each)


async def watch_files(
    watch: Watch,
    cert: Path,
    key: Path,
    install: Callable[[Pair], Awaitable[None]],
    on_event: Callable[[str], None],
    poll: float = POLL,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Poll the files until cancelled; `install` gives the engine a new pair."""
    reminder = Reminder()
    while True:
        if (warning := reminder.due(watch.serving, now())) is not None:
            log.warning("tls: %s", warning)
            on_event(f"tls: {warning}")
        await asyncio.sleep(poll)
        verdict = await asyncio.to_thread(look, watch, cert, key)
        if isinstance(verdict, Refuse):
            on_event(f"tls certificate not reloaded: {verdict.reason}; the old one serves on")
        elif isinstance(verdict, Take):
            try:
                await install(verdict.pair)
            except Exception as exc:
                watch.undo(verdict)
                on_event(
                    f"tls certificate not reloaded: the engine refused it ({exc}); "
                    "the old one serves on"
                )
                continue
            on_event(f"tls certificate reloaded: {verdict.pair.summary()}")
