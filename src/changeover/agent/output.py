"""What a rollout that failed at boot shows: the last lines its failing replica wrote.

Invariant: the replica is chosen purely from the supervisor's view (the target replica
that is not ready with the most boot failures: the one `BootFailed` names), its log is
read from the end in bounded chunks (`tail_lines`), and the message shows the app's own
output as plain text (control characters replaced), ending with the command that shows
the rest, so a person can always go further.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from changeover.agent.logs import tail_lines
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import ReplicaInfo

LINES = 10  # of a replica's output shown when it failed at boot
WIDTH = 300  # characters kept of each line
OUTPUT_HEADING = " wrote before failing ("  # `up --detach` shows the agent's log from it


def failed_at_boot(replicas: Iterable[ReplicaInfo], revision: int) -> ReplicaInfo | None:
    """The replica of `revision` that failed at boot most often and is still not ready."""
    failed = [
        r
        for r in replicas
        if r.revision == revision and r.boot_failures and r.state is not ReplicaState.READY
    ]
    return max(failed, key=lambda r: r.boot_failures, default=None)


def last_lines(path: Path, count: int = LINES) -> list[str]:
    """The last `count` lines of a log file, as text; none if it cannot be read."""
    try:
        lines, _ = tail_lines(path, count)
    except OSError:
        return []
    return [_printable(line.decode(errors="replace").rstrip("\r\n"))[:WIDTH] for line in lines]


def output_message(replica_id: str, lines: list[str]) -> str:
    """The event: a heading naming the command that shows more, then the lines indented."""
    logs = f"`changeover logs {replica_id}`"
    if not lines:
        return f"{replica_id} wrote nothing to stdout or stderr before failing ({logs})"
    last = "last line" if len(lines) == 1 else f"last {len(lines)} lines"
    heading = f"{replica_id}{OUTPUT_HEADING}{last}; {logs} shows more):"
    return "\n".join([heading, *(f"  {line}" for line in lines)])


def _printable(text: str) -> str:
    # an app's escape sequences must not reach a terminal that prints this event
    return "".join(ch if ch.isprintable() or ch == "\t" else "?" for ch in text)
