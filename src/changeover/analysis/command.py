"""The `command` provider: run `/bin/sh -c COMMAND` in a work directory, judge its exit.

Invariant: the command's whole process group is killed (SIGKILL) before `measure`
returns or is cancelled, so neither a timeout nor a stopped run leaves a process behind.

Exit 0 passes and any other exit fails; when min or max is set, the last line of stdout
must be a number and is judged too (a non-zero exit still fails). Exit 126/127 (not
executable, not found) and death by a signal are errors, not verdicts on the release.
The message carries the last line of stderr.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from changeover import shell
from changeover.analysis.model import Measurement, Outcome, one_line
from changeover.analysis.verdict import judge, measurement, where

if TYPE_CHECKING:  # runtime import would cycle: spec.rules imports analysis.builtin
    from changeover.spec.models import Metric


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return one_line(lines[-1], 200) if lines else ""


async def run(
    command: str, workdir: str | Path, env: Mapping[str, str] | None
) -> tuple[int, bytes, bytes]:
    """Exit status, stdout and stderr of `command`; its process group dies with it."""
    return await shell.run(("/bin/sh", "-c", command), cwd=workdir, env=env)


async def measure(
    metric: Metric, at: float, workdir: str | Path, env: Mapping[str, str] | None
) -> Measurement:
    shown = where(metric)
    try:
        code, out, err = await run(metric.command or "", workdir, env)
    except OSError as exc:  # workdir missing, /bin/sh not executable
        return measurement(metric, Outcome.ERROR, at, f"{shown}: cannot start: {exc}")
    tail = f": {line}" if (line := _last_line(err)) else ""
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return measurement(metric, Outcome.ERROR, at, f"{shown} killed by {name}{tail}")
    if code in (126, 127):
        text = f"{shown} exited {code} (not found or not executable){tail}"
        return measurement(metric, Outcome.ERROR, at, text)
    if code != 0:
        return measurement(metric, Outcome.FAILED, at, f"{shown} exited {code}{tail}")
    if metric.min is None and metric.max is None:
        return measurement(metric, Outcome.PASSED, at, f"{shown} exited 0{tail}")
    printed = _last_line(out)
    try:
        value = float(printed)
    except ValueError:
        why = f"min/max are set but the last line of its output is not a number: {printed!r}"
        return measurement(metric, Outcome.ERROR, at, f"{shown}: {why}")
    return judge(metric, f"{shown} printed", value, at, detail=line)
