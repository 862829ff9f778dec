"""Taking a replica out of service without dropping a request.

Invariant: the steps run in this order, each bounded in time: unroutable and DRAINING,
drain in-flight requests, remove the endpoint, STOPPING, pre_stop, record the descendants,
stop signal, grace, SIGKILL the group and, with it, every descendant that left the group
(`escapes`), close the socket, EXITED. Steps that do not apply are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from changeover.supervisor.replica import Replica
from changeover.supervisor.spawn import Child, SpawnError
from changeover.supervisor.state import ReplicaEvent, ReplicaState

log = logging.getLogger(__name__)

KILL_WAIT = 10.0  # how long to wait for a SIGKILLed process before giving up on it
DRAIN_SLACK = 1.0  # extra time a proxy gets beyond drain_timeout to answer


def begin(rep: Replica, run_task: asyncio.Task[None] | None) -> None:
    """The synchronous first step: stop supervising, leave routing, DRAINING."""
    if run_task is not None:
        run_task.cancel()
    rep.set_routable(False)
    rep.move(ReplicaEvent.TERMINATION_BEGAN)  # DRAINING, or BACKOFF: nothing to drain


async def finish(rep: Replica, run_task: asyncio.Task[None] | None) -> None:
    """Every step after `begin`, ending in EXITED."""
    if run_task is not None:
        await asyncio.gather(run_task, return_exceptions=True)
    if rep.state is ReplicaState.DRAINING:
        await _drain(rep)
    rep.hooks.routing.remove_endpoint(rep.id)
    child = rep.child
    if child is not None and child.returncode is None:
        rep.move(ReplicaEvent.DRAINED)
        await _stop(rep, child)
    rep.process_gone()
    rep.close_socket()
    rep.move(ReplicaEvent.STOPPED)


async def _drain(rep: Replica) -> None:
    timeout = rep.template.termination.drain_timeout
    try:
        async with asyncio.timeout(timeout + DRAIN_SLACK):
            drained = await rep.hooks.routing.drain(rep.id, timeout)
    except TimeoutError:
        drained = False
    if not drained:
        log.warning("replica %s: requests still in flight after %.1fs", rep.id, timeout)


async def _stop(rep: Replica, child: Child) -> None:
    term = rep.template.termination
    loop = asyncio.get_running_loop()
    started = loop.time()
    if term.pre_stop:
        await run_hook(rep, term.pre_stop, term.grace_period)
    remaining = max(0.0, term.grace_period - (loop.time() - started))
    rep.hooks.escapes.record(rep.id, child)  # the stop signal may orphan some of them
    if not await stop_child(child, signal.Signals[term.stop_signal], remaining):
        rep.last_error = f"did not exit within grace period {term.grace_period:g}s; killed"


async def run_hook(rep: Replica, command: str, seconds: float) -> None:
    """Run `command` like the app (workdir, env, log) for at most `seconds`."""
    try:
        hook = rep.hooks.spawner.spawn(rep.hook_spec(command))
    except SpawnError as exc:
        log.warning("replica %s: pre_stop not run: %s", rep.id, exc)
        return
    if not await wait_exit(hook, seconds):
        log.warning("replica %s: pre_stop still running after %gs; killed", rep.id, seconds)
        hook.kill_group(signal.SIGKILL)
        await wait_exit(hook, KILL_WAIT)
    hook.kill_group(signal.SIGKILL)


async def stop_child(child: Child, sig: int, grace: float) -> bool:
    """Signal `child`, SIGKILL its group after `grace`; True if it exited in time."""
    child.signal(sig)
    graceful = await wait_exit(child, grace)
    if not graceful:
        child.kill_group(signal.SIGKILL)
        if not await wait_exit(child, KILL_WAIT):
            log.error("pid %d survived SIGKILL for %gs", child.pid, KILL_WAIT)
    # Grandchildren outlive a leader that exited on its own; they go too.
    child.kill_group(signal.SIGKILL)
    return graceful


async def wait_exit(child: Child, seconds: float) -> bool:
    """True if `child` exited within `seconds`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await child.wait()
            return True
    return False
