"""The agent while it serves: proxy, control socket, flags and ops listeners, controller
and the background tasks, from the first accepted request to shutdown or handover.

Invariant: every task and listener started here is stopped (or handed to the next agent)
before `serve` returns, whatever ended it: a signal, a failed first revision, a crashed
controller or a handover.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from changeover.agent import clients, engine, recovery, retention_task, takeover
from changeover.agent import tls as tls_watch
from changeover.agent.api import create_app
from changeover.agent.control import bind_control_socket
from changeover.agent.core import Agent, BadRequest
from changeover.agent.flags.listener import FlagsListener, ListenerError
from changeover.agent.lock import AgentLock, read_pid
from changeover.agent.logs import ACCESS_LOG
from changeover.agent.ops.listener import OpsListener
from changeover.agent.paths import StatePaths
from changeover.agent.reload import Reloader, step_down
from changeover.agent.service_manager import ServiceManager
from changeover.haproxy.process import HaproxyMissing, StartFailed
from changeover.proxy.config import ProxyConfig
from changeover.proxy.server import Proxy
from changeover.rollout.phase import Phase
from changeover.spec.models import ProxySettings, Spec
from changeover.store import Store
from changeover.tlsfiles import TlsFileError, Watch, start_watch

log = logging.getLogger("changeover.agent")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
HANDOVER_TIMEOUT = 30.0  # SIGHUP's; `changeover reload --timeout` chooses its own


@dataclass(frozen=True)
class AgentOptions:
    spec: Spec
    spec_path: Path
    paths: StatePaths
    environment: str | None = None  # the spec's environment this agent serves
    version: str = "v1"
    on_ready: Callable[[str, int, str], None] = lambda address, revision, version: None


@dataclass
class Life:
    """What outlives serving: the lock, what a previous agent handed over (or what a
    crashed one left running), the reloader, the service manager."""

    lock: AgentLock
    handed: takeover.Inherited | None
    reloader: Reloader | None = None
    recovered: recovery.Recovered | None = None
    manager: ServiceManager = field(default_factory=ServiceManager)


async def serve(options: AgentOptions, store: Store, public: socket.socket, life: Life) -> int:
    """Serve on `public` until told to stop (or handed over); the exit code."""
    try:
        flags_net = FlagsListener.open(options.spec.flags, options.spec_path)  # [flags] listen
    except ListenerError as exc:
        print(f"changeover: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        ops_net = OpsListener.open(options.spec.ops, options.spec_path)  # [ops] listen
    except ListenerError as exc:
        await flags_net.close()
        print(f"changeover: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        certificate = _tls_files(options)
    except TlsFileError as exc:  # the spec's check passed, then the files changed
        await flags_net.close()
        await ops_net.close()
        print(f"changeover: {exc.key}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    said: list[Agent] = []  # the engine's events go to the agent's once it exists

    def engine_event(message: str) -> None:
        if said:
            said[0].events.add("agent", message)
        else:
            log.info("%s", message)

    # a reload's HAProxy runs beside the old agent's, which drains: its own files
    generation = 0 if life.handed is None else life.handed.manifest.generation + 1
    try:
        proxy = engine.make(
            options.spec.proxy,
            options.paths,
            lambda: Proxy(
                proxy_config(options.spec.proxy, options.paths.logs),
                tls=None if certificate is None else certificate.serving,
            ),
            on_event=engine_event,
            drain_timeout=options.spec.termination.drain_timeout,
            tls=None if certificate is None else certificate.serving,
            generation=generation,
        )
    except HaproxyMissing as exc:
        await flags_net.close()
        await ops_net.close()
        print(f"changeover: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    agent = Agent(
        paths=options.paths,
        spec=options.spec,
        spec_path=options.spec_path,
        store=store,
        proxy=proxy,
        environment=options.environment,
    )
    said.append(agent)
    if certificate is not None:
        _say(agent, f"tls certificate serving: {certificate.serving.summary()}")
    handed = life.handed
    if handed is not None:
        takeover.adopt_replicas(agent, handed.manifest)  # endpoints first, then accept
    elif life.recovered is not None:
        recovery.adopt(agent, life.recovered)  # survivors of a crash: the same
    try:
        await proxy.serve(public)
    except StartFailed as exc:
        print(f"changeover: {exc}", file=sys.stderr)
        if handed is not None:  # the replicas are the old agent's still: it serves on
            await agent.supervisor.detach()
        else:
            await agent.supervisor.stop_all()
        await flags_net.close()
        await ops_net.close()
        return EXIT_FAILED
    group = options.spec.control.group  # [control] group: socket 0660 for it
    control_sock = (
        handed.control if handed else bind_control_socket(options.paths.control_socket, group)
    )
    reloader = life.reloader = Reloader(
        agent=agent,
        state_dir=options.paths.root,
        public=public,
        control=control_sock,
        lock=life.lock,
        generation=generation,
        listen=options.spec.proxy.listen,
    )
    agent.reloader = reloader.reload
    control = takeover.SharedControlServer(create_app(agent), control_sock)
    await control.start()
    await flags_net.start(agent.flags, agent.events)
    agent.flags_listen = flags_net.address
    await ops_net.start(agent)
    agent.ops_listen = ops_net.address
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stopping.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _on_sighup(reloader))
    async with asyncio.TaskGroup() as background:
        controller = background.create_task(
            guarded("rollout controller", agent.controller.run(), agent)
        )
        helpers = [
            background.create_task(guarded("traffic sampler", agent.sample_traffic(), agent)),
            background.create_task(guarded("migrations", agent.migrator.watch(), agent)),
            background.create_task(  # logs and events
                guarded("retention", retention_task.for_agent(agent).run(), agent)
            ),
        ]
        if certificate is not None:
            helpers.append(
                background.create_task(
                    guarded("tls watch", _watch_tls(options, certificate, agent), agent)
                )
            )
        try:
            if handed is not None:
                code = await _take_over(agent, handed, life.lock)
            else:
                code = await _run(options, agent, life.manager)
            return EXIT_FAILED if agent.failure else code
        finally:
            for task in helpers:
                task.cancel()
            await flags_net.close()
            await ops_net.close()
            if reloader.handed_over:
                _hand_service_over(life.manager, options.paths.pid_file)
                control.keep_path()
                await control.stop()  # no control request may reach a stepping-down agent
                await step_down(agent, public, reloader.channel)
            else:
                life.manager.stopping()
                await agent.shutdown()
            controller.cancel()  # after the shutdown, which records the rollout interrupted
            await control.stop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)


_background: set[asyncio.Task[None]] = set()


def _tls_files(options: AgentOptions) -> Watch | None:
    """The serving pair `[proxy] tls` names, and the watch of its files (None: no TLS)."""
    tls = options.spec.proxy.tls
    if tls is None:
        return None
    base = options.spec_path.parent
    return start_watch(base / tls.cert, base / tls.key)


async def _watch_tls(options: AgentOptions, certificate: Watch, agent: Agent) -> None:
    tls = options.spec.proxy.tls
    assert tls is not None
    base = options.spec_path.parent
    await tls_watch.watch_files(
        certificate,
        base / tls.cert,
        base / tls.key,
        agent.proxy.set_certificate,
        lambda message: _say(agent, message),
    )


def _say(agent: Agent, message: str) -> None:
    log.info("%s", message)
    agent.events.add("agent", message)


def _on_sighup(reloader: Reloader) -> None:
    log.info("SIGHUP: reloading the agent")
    task = asyncio.ensure_future(reloader.reload_logged(HANDOVER_TIMEOUT))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _take_over(agent: Agent, handed: takeover.Inherited, lock: AgentLock) -> int:
    lock.write_pid()
    takeover.announce_ready(handed.channel)
    log.info("took over from agent pid %d", handed.manifest.old_pid)
    if agent.proxy.engine_name != "builtin":
        # HAProxy cannot serve a connection another process accepted: refuse them all by
        # closing the channel, so that the old agent's send fails and it keeps its idle
        # clients, answering each one's next request with `Connection: close` (a builtin
        # agent's idle ones, at a reload that switches the engine); taken and closed
        # here, a request a client sent meanwhile would be lost
        handed.channel.close()
        await agent.stopping.wait()
        return EXIT_OK
    # the old agent now sends its idle client connections, then closes the channel
    taking = asyncio.create_task(clients.receive(handed.channel, agent.proxy.adopt))
    taking.add_done_callback(_log_adopted)
    try:
        await agent.stopping.wait()
    finally:
        taking.cancel()
    return EXIT_OK


def _log_adopted(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is None:
        log.info("adopted %d idle client connections from the old agent", task.result())


async def guarded(name: str, work: Coroutine[Any, Any, None], agent: Agent) -> None:
    """Run a task that should only end by cancellation; if it raises, stop the agent
    cleanly with the reason rather than serve on blind (and keep the error out of the
    task group, which would cancel the shutdown sequence itself)."""
    try:
        await work
    except Exception as exc:
        log.error("%s crashed; stopping the agent", name, exc_info=exc)
        agent.failure = f"{name} crashed: {exc!r}"
        agent.stopping.set()


def _hand_service_over(manager: ServiceManager, pid_file: Path) -> None:
    # the new agent wrote its pid before it said ready; the manager must follow it, or
    # it would take this agent's exit for the end of the service
    pid = read_pid(pid_file)
    if pid is not None:
        manager.handed_over(pid)


async def _run(options: AgentOptions, agent: Agent, manager: ServiceManager) -> int:
    try:
        initial = agent.start_initial(options.version)
    except BadRequest as exc:  # revision 1 cannot be made (a secret found nowhere)
        for line in exc.lines:
            print(f"changeover: {line}", file=sys.stderr)
        await asyncio.sleep(0)  # the background tasks start, so they are cancelled running
        return EXIT_BAD_INPUT
    stop: asyncio.Future[Any] = asyncio.ensure_future(agent.stopping.wait())
    await asyncio.wait([initial, stop], return_when=asyncio.FIRST_COMPLETED)
    if not initial.done():
        stop.cancel()
        return EXIT_OK
    decision = initial.result()
    if decision.phase is not Phase.SUCCEEDED:
        stop.cancel()
        log.error("the first revision did not become ready: %s", decision.reason)
        return EXIT_FAILED
    stable = agent.store.stable_revision()
    assert stable is not None
    host, port = agent.proxy.address
    url = f"{'http' if options.spec.proxy.tls is None else 'https'}://{host}:{port}"
    manager.ready(f"revision {stable.id} ({stable.version}) serving on {url}")
    options.on_ready(url, stable.id, stable.version)
    await stop
    return EXIT_OK


def proxy_config(settings: ProxySettings, logs: Path | None = None) -> ProxyConfig:
    """The proxy's tunables from `[proxy]`; `logs` (the state directory's logs folder)
    is where the access log goes, and is needed only when it is on."""
    access_log = None
    if settings.access_log:
        if logs is None:
            raise ValueError("the access log needs the state directory's logs folder")
        access_log = str(logs / ACCESS_LOG)
    return ProxyConfig(
        connect_timeout=settings.connect_timeout,
        header_timeout=settings.header_timeout,
        idle_timeout=settings.idle_timeout,
        response_timeout=settings.response_timeout,
        upstream_idle_timeout=settings.upstream_idle_timeout,
        write_timeout=settings.write_timeout,
        max_header_bytes=settings.max_header_size,
        max_headers=settings.max_headers,
        forwarded_proto="http" if settings.tls is None else "https",
        trusted_proxies=tuple(settings.trusted_proxies),
        access_log=access_log,
        access_log_query=settings.access_log_query,
    )
