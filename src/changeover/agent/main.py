"""The agent's life: lock, store, the public listener (passed by the service manager or
bound here), recovery from a predecessor that crashed, then `serve.serve`.

Invariant: whatever happens after the lock is taken (bad port, failed first revision,
signal), every replica is stopped, the control socket removed and the lock released
before `run_agent` returns its exit code; except after a handover, when replicas, socket
file and lock belong to the next agent, which started by adopting them, and except the
replicas a crashed predecessor left serving when this agent fails before it adopts them:
they are left to the next start. Bad input (a port in use, malformed socket activation)
is found before any replica is touched.
"""

from __future__ import annotations

import socket
import sys
import time

from changeover.agent import recovery, relisten, takeover
from changeover.agent.activation import ActivationError, claim_public
from changeover.agent.controller import keep_guarded_target
from changeover.agent.lock import AgentLock, AlreadyRunning
from changeover.agent.manifest import ManifestError
from changeover.agent.serve import (
    EXIT_BAD_INPUT,
    AgentOptions,
    Life,
    guarded,
    proxy_config,
    serve,
)
from changeover.haproxy.process import stop_leftovers
from changeover.spec.types import parse_address
from changeover.store import Store
from changeover.supervisor.subreaper import become_subreaper

__all__ = ["AgentOptions", "bind_public", "guarded", "open_public", "proxy_config", "run_agent"]
ORPHAN_GRACE = 5.0
HANDOVER_TIMEOUT = 30.0  # SIGHUP's; `changeover reload --timeout` chooses its own


def run_agent(options: AgentOptions) -> int:
    """Run the agent in this process until it is told to stop; return the exit code."""
    import uvloop

    return uvloop.run(_main(options))


async def _main(options: AgentOptions) -> int:
    paths = options.paths
    paths.ensure()
    lock = AgentLock(paths.lock, paths.pid_file)
    try:
        handed = takeover.inherited()
    except (ManifestError, OSError) as exc:
        print(f"changeover: cannot take over from the previous agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if handed is not None:
        lock.adopt(handed.manifest.lock_fd)  # the same flock: held without a gap
    else:
        try:
            lock.acquire()
        except AlreadyRunning as exc:
            print(f"changeover: {exc}; use `changeover down` first", file=sys.stderr)
            return EXIT_BAD_INPUT
    life = Life(lock, handed)
    try:
        return await _locked(options, life)
    finally:
        if life.reloader is not None and life.reloader.handed_over:
            lock.hand_over()
        else:
            lock.release()


async def _locked(options: AgentOptions, life: Life) -> int:
    become_subreaper()  # orphaned replica descendants come to us, so they can be killed
    paths = options.paths
    store = Store.open(paths.store)
    try:
        if life.handed is not None:
            public = _relisten(options.spec.proxy.listen, life.handed)
            if public is None:
                return EXIT_BAD_INPUT  # the old agent serves on, on its address
            return await serve(options, store, public, life)
        # a crashed agent's HAProxy may still hold the public address (whatever the
        # engine is now: the spec may have changed since)
        for killed in stop_leftovers(paths.haproxy_pid):  # one per generation
            said = f"stopped haproxy pid {killed} left by a crashed agent"
            store.add_event("agent", said, now=time.time())
        public = open_public(options.spec.proxy.listen)
        if public is None:
            return EXIT_BAD_INPUT
        try:
            life.recovered = await _recover(store)
        except BaseException:
            public.close()
            raise
        return await serve(options, store, public, life)
    finally:
        store.close()


def _relisten(listen: str, handed: takeover.Inherited) -> socket.socket | None:
    """The inherited public socket, or, when `proxy.listen` changed since the old agent
    bound it, the new address bound here (`agent.relisten`); None when it cannot be."""
    bound = handed.public.getsockname()
    if not relisten.changed(handed.manifest.listen, listen, (str(bound[0]), int(bound[1]))):
        return handed.public
    public = open_public(listen)
    if public is not None:
        handed.public.close()  # the old agent keeps its copy until it steps down
        print(f"changeover: proxy.listen changed: now listening on {listen}", file=sys.stderr)
    return public


async def _recover(store: Store) -> recovery.Recovered:
    """Adopt what a crashed predecessor left serving; stop the rest; close its rollout."""
    kept = keep_guarded_target(store, time.time())  # before recovery reads the stable one
    if kept is not None:
        store.add_event("rollout", kept.reason, now=time.time(), rollout_id=kept.id)
    recovered = await recovery.recover(store, grace=ORPHAN_GRACE)
    store.interrupt_schema_steps(time.time())  # a migration the dead agent left running
    interrupted = store.interrupt_active(time.time())
    if interrupted is not None:
        store.add_event(
            "rollout",
            f"rollout {interrupted.id} was interrupted by an agent "
            "restart; stable revision restored",
            now=time.time(),
            rollout_id=interrupted.id,
        )
    return recovered


def open_public(listen: str) -> socket.socket | None:
    """The public listener: the one the service manager passed, else bound here; None
    (after saying why on stderr) when neither is possible."""
    try:
        passed = claim_public(listen)
    except ActivationError as exc:
        print(f"changeover: socket activation: {exc}", file=sys.stderr)
        return None
    if passed is not None:
        return passed
    try:
        return bind_public(listen)
    except OSError as exc:
        print(f"changeover: cannot listen on {listen}: {exc.strerror or exc}", file=sys.stderr)
        return None


def bind_public(listen: str) -> socket.socket:
    host, port = parse_address(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)
