"""`changeover verify`: deploy a release (or the stable one again) under generated load,
then report every failed request against the rollout's events, and a verdict.

Invariant: the load runs from before the deploy until after the rollout has finished
(warm-up and cool-down included) and is stopped whatever happens; while following, verify
only carries out what `next_action` decides (promote a pause once with `--promote`, abort
once past `--max-wait` and follow the rollback to its end); the exit code is the
verdict's (0 only with zero failed requests and a succeeded rollout verify did not
abort), 2 for bad input, 3 when the agent cannot be reached. Nothing is deployed while
the load cannot work: a `--cacert` that is no CA bundle, or given for a listener without
TLS, and a TLS handshake with the listener that fails are bad input (2), said before the
deploy.
"""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.progress import Progress

from changeover.cli.client import AgentClient, Refused
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    Json,
    SpecFile,
    StateDir,
    duration_option,
    environment,
    fail,
    out,
    spec_path,
    state_paths,
)
from changeover.cli.deploy import StrategyOption, parse_env, parse_strategy
from changeover.cli.follow import events_after
from changeover.loadgen import BackgroundLoad, Report, Template
from changeover.loadgen.trust import ca_context, handshake
from changeover.rollout.phase import Phase
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.models import Spec
from changeover.verify import (
    Action,
    NothingToRedeploy,
    ReleaseOptions,
    RequestSpecError,
    RolloutEvent,
    Samples,
    Seen,
    Settings,
    VerifyAction,
    WaitOptions,
    abort_action,
    build_report,
    deploy_body,
    format_request,
    next_action,
    parse_requests,
    promote_action,
    recorded_load,
)
from changeover.verify.progress import counts, new_progress, paused_line, rollout_line
from changeover.verify.render import render
from changeover.verify.requests import check_load

POLL = 0.2  # seconds between progress refreshes while the rollout runs
MAX_FAILURE_RECORDS = 100_000  # every failure keeps its timestamp, within reason
Opt = typer.Option
Version = Annotated[
    str | None,
    Opt("--version", metavar="VERSION", help="Version to deploy; default: the stable one again."),
]
ReleasePath = Annotated[
    Path | None, Opt("--path", metavar="DIR", help="Working directory of the release.")
]
Env = Annotated[
    list[str] | None,
    Opt("--env", metavar="KEY=VALUE", help="A variable for this release; repeatable."),
]
Command = Annotated[
    str | None, Opt("--command", metavar="CMD", help="Command line of the release.")
]
Rate = Annotated[float, Opt("--rate", metavar="RPS", help="Requests per second of generated load.")]
Connections = Annotated[int, Opt("--connections", metavar="N", help="Keep-alive connections.")]
Warmup = Annotated[float, duration_option("--warmup", help="Load before the deploy.", default=2.0)]
Cooldown = Annotated[
    float, duration_option("--cooldown", help="Load after the rollout.", default=2.0)
]
Requests = Annotated[
    list[str] | None,
    Opt(
        "--request",
        metavar="'[METHOD] /PATH [weight=W] [body=BYTES]'",
        help="A request to send; repeatable (default: GET /).",
    ),
]
Timeout = Annotated[float, duration_option("--timeout", help="A request's timeout.", default=10.0)]
MaxWait = Annotated[
    float | None,
    duration_option("--max-wait", help="Abort the rollout if it has not finished this long "
                    "after the deploy (default: wait as long as it takes)."),
]  # fmt: skip
Promote = Annotated[
    bool, Opt("--promote", help="Promote the rollout (one step) each time it pauses.")
]
CaCert = Annotated[
    Path | None,
    Opt(
        "--cacert",
        metavar="FILE",
        help="PEM CA bundle to trust for the https:// listener instead of the system's store.",
    ),
]


ServerName = Annotated[
    str | None,
    Opt(
        "--server-name",
        metavar="NAME",
        help="The name the service answers to: the requests' Host, and for an https:// "
        "listener the name its certificate is checked for, sent as SNI (default: the "
        "listen address).",
    ),
]


def verify(
    version: Version = None,
    path: ReleasePath = None,
    env: Env = None,
    command: Command = None,
    strategy: StrategyOption = None,
    rate: Rate = 1000.0,
    connections: Connections = 20,
    warmup: Warmup = 2.0,
    cooldown: Cooldown = 2.0,
    request: Requests = None,
    timeout: Timeout = 10.0,
    max_wait: MaxWait = None,
    promote: Promote = False,
    cacert: CaCert = None,
    server_name: ServerName = None,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Deploy under generated load and report every failed request; exit 1 if any failed."""
    problem = check_load(
        rate=rate, connections=connections, warmup=warmup, cooldown=cooldown, timeout=timeout,
        max_wait=max_wait,
    )  # fmt: skip
    if problem:
        fail(BAD_INPUT, problem)
    name = parse_strategy(strategy)
    try:
        templates = parse_requests(request or [])
    except RequestSpecError as exc:
        fail(BAD_INPUT, str(exc))
    trust = None if cacert is None else trusting(cacert)
    spec_file, text, spec = read_spec(file)
    where = os.path.abspath(path) if path else None
    options = ReleaseOptions(version, where, command, parse_env(env or []), name)
    with AgentClient(state_paths(state_dir, spec_file)) as client:
        agent = client.get("/v1/status")["agent"]
        url = public_url(agent["listen"], tls=bool(agent.get("tls")))
        check_trust(url, cacert, trust, timeout, server_name)
        try:
            history = client.get("/v1/history")
            secret = spec.app.secret_env
            body, redeploy = deploy_body(options, text, str(spec_file), history, secret)
        except NothingToRedeploy as exc:
            fail(BAD_INPUT, str(exc))
        settings = Settings(
            url, rate, connections, tuple(map(format_request, templates)), warmup, cooldown,
            timeout, str(body["version"]), redeploy, name, max_wait, promote,
        )  # fmt: skip
        run = drive(client, body, settings, templates, json, trust, server_name)
    rollout, events, actions, load, samples, start = run
    report = build_report(settings, rollout, events, load, samples, start, actions)
    if json:
        out.print_json(data=report.to_dict())
    else:
        out.print(render(report))
    raise typer.Exit(report.exit_code)


def read_spec(file: Path) -> tuple[Path, str, Spec]:
    """The spec file's path, text and spec, validated as `deploy` does (exit 2 on problems)."""
    spec_file = spec_path(file)
    text = spec_file.read_text(encoding="utf-8")
    try:
        spec = load_spec_text(
            text, str(spec_file), base=spec_file.parent, environment=environment()
        )
    except SpecError as exc:
        fail(BAD_INPUT, *exc.lines())
    return spec_file, text, spec


def trusting(cacert: Path) -> ssl.SSLContext:
    """The context trusting `--cacert FILE` (exit 2 naming the option and the file)."""
    try:
        return ca_context(cacert)
    except ValueError as exc:
        fail(BAD_INPUT, str(exc))


def check_trust(
    url: str,
    cacert: Path | None,
    trust: ssl.SSLContext | None,
    t: float,
    server_name: str | None = None,
) -> None:
    """Exit 2 before the deploy when the load's handshakes cannot work: `--cacert` for a
    plain HTTP listener, or a first TLS handshake that fails (saying why). `--server-name`
    over plain HTTP only names the Host the requests carry."""
    if not url.startswith("https://"):
        if cacert is not None:
            fail(
                BAD_INPUT,
                f"--cacert {cacert}: the public listener {url} speaks plain HTTP (the "
                "agent serves no [proxy] tls), so there is no certificate to check; "
                "leave --cacert out",
            )
        return
    problem = handshake(url, trust, t, server_name)
    if problem is None:
        return
    host = url.removeprefix("https://").rpartition(":")[0].strip("[]")
    store = "the system's trust store" if cacert is None else f"--cacert {cacert}"
    lines = [f"the TLS handshake with {url} failed: {problem}", f"(trusting {store})"]
    if "mismatch" in problem and server_name is None:
        lines.append(
            f"verify connects to the listen address, {host}: the certificate must name it "
            "(a subjectAltName for that address), or give the name it has: --server-name NAME"
        )
    elif "mismatch" in problem:
        lines.append(f"the certificate does not name {server_name} (--server-name)")
    elif cacert is None:
        lines.append("give the CA that issued the certificate with --cacert FILE")
    fail(BAD_INPUT, *lines, "nothing was deployed")


def public_url(listen: str, tls: bool = False) -> str:
    """URL of the public listener from status' `host:port` (IPv6 hosts get brackets);
    https:// when it serves TLS (`[proxy] tls`), verified by the system's trust store or
    the CA bundle `--cacert` names."""
    host, _, port = listen.rpartition(":")
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{listen}"


Followed = tuple[dict[str, Any], list[RolloutEvent], list[VerifyAction]]
Run = tuple[dict[str, Any], list[RolloutEvent], list[VerifyAction], Report, Samples, float]


def drive(
    client: AgentClient,
    body: dict[str, Any],
    s: Settings,
    templates: list[Template],
    quiet: bool,
    trust: ssl.SSLContext | None = None,  # an https:// listener's CA (`--cacert`)
    server_name: str | None = None,  # the name its certificate is checked for
) -> Run:
    """Warm-up, deploy and follow the rollout, cool-down, all under one continuous load."""
    load, recorder = recorded_load(
        s.url, rate=s.rate, connections=s.connections, templates=templates,
        timeout=s.timeout, max_failure_records=MAX_FAILURE_RECORDS, ssl_context=trust,
        server_name=server_name,
    )  # fmt: skip
    with new_progress(out, disable=quiet) as progress, load:
        start = recorder.wall_start()
        hold(progress, load, "warm-up", s.warmup)
        posted = time.monotonic()
        rollout = client.post("/v1/deploy", body)
        after = events_after(rollout)
        wait = WaitOptions(s.max_wait, s.promote)
        final, events, actions = follow(client, rollout, after, progress, load, wait, posted)
        hold(progress, load, "cool-down", s.cooldown)
    return final, events, actions, load.report, recorder.samples, start


def hold(progress: Progress, load: BackgroundLoad, what: str, seconds: float) -> None:
    """Keep the load running for `seconds`, refreshing the bar."""
    task = progress.add_task(what, total=seconds or 1, counts="")
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        progress.update(task, completed=seconds - left, counts=counts(load.snapshot()))
        time.sleep(min(POLL, left))
    progress.update(task, completed=seconds or 1, counts=counts(load.snapshot()))


def follow(
    client: AgentClient,
    rollout: dict[str, Any],
    after: int,
    progress: Progress,
    load: BackgroundLoad,
    wait: WaitOptions,
    posted: float,
) -> Followed:
    """Poll the rollout to its end, doing what `next_action` says (`posted`: monotonic time
    of the deploy) and collecting its events; the bar shows the latest one or the pause."""
    rid = rollout["id"]
    revisions = {rollout["from_revision"], rollout["to_revision"]} - {None}
    task = progress.add_task(f"rollout {rid}", total=None, counts="")
    events: list[RolloutEvent] = []
    actions: list[VerifyAction] = []
    promoted = False  # verify already promoted the pause the rollout is in
    while True:
        current: dict[str, Any] = client.get(f"/v1/rollouts/{rid}")
        done, phase = current["finished_at"] is not None, Phase(current["phase"])
        promoted = promoted and phase is Phase.PAUSED
        aborting = any(a.action is Action.ABORT for a in actions)
        seen = Seen(phase, done, time.monotonic() - posted, promoted, aborting)
        action = next_action(seen, wait)
        if action is Action.PROMOTE:
            record, promoted = _promote(client, rid, seen.elapsed)
            actions.append(record)
        elif action is Action.ABORT:
            actions.append(_abort(client, seen.elapsed, wait.max_wait or 0.0))
        after = _read_events(client, after, events, rid, revisions, done)
        if action is Action.WAIT and phase is Phase.PAUSED:
            line = paused_line(rid, wait.max_wait, seen.elapsed)
        else:
            latest = events[-1].message if events and not done else None
            line = rollout_line(rid, current["phase"], latest)
        progress.update(task, description=line, counts=counts(load.snapshot()))
        if done:
            progress.update(task, total=1, completed=1)
            return current, events, actions


def _read_events(
    client: AgentClient,
    after: int,
    events: list[RolloutEvent],
    rid: int,
    revisions: set[int],
    done: bool,
) -> int:
    """Add the rollout's new events (waiting up to POLL for one; once done, every one left)."""
    while batch := client.get("/v1/events", after=after, wait=0 if done else POLL)["events"]:
        after = int(batch[-1]["id"])
        events += [RolloutEvent.from_doc(d) for d in batch if _mine(d, rid, revisions)]
        if not done:
            break  # refresh the bar; once done, read on until every event is in
    return after


def _promote(client: AgentClient, rid: int, elapsed: float) -> tuple[VerifyAction, bool]:
    """Promote one step, as `changeover promote` does; whether the rollout is still paused
    (a refused promote leaves it paused, and verify does not try that pause again)."""
    step, sent = _canary_step(client, rid), time.time()  # before the agent's own events
    try:
        answer = client.post("/v1/promote?by=verify")
    except Refused as exc:
        return promote_action(sent, elapsed, step, "; ".join(exc.lines)), True
    after = answer.get("rollout") or {}
    return promote_action(sent, elapsed, step), after.get("phase") == Phase.PAUSED.value


def _abort(client: AgentClient, elapsed: float, max_wait: float) -> VerifyAction:
    """Abort, as `changeover abort` does; refused when the rollout ended meanwhile."""
    sent = time.time()  # before the agent's own events, on the timeline
    try:
        client.post("/v1/abort?by=" + quote(f"verify (--max-wait {max_wait:g}s)"))
    except Refused as exc:
        return abort_action(sent, elapsed, max_wait, "; ".join(exc.lines))
    return abort_action(sent, elapsed, max_wait)


def _canary_step(client: AgentClient, rid: int) -> int | None:
    """The 1-based canary step rollout `rid` is at, from `status`; None if it has none."""
    doc = client.get("/v1/status")
    rollout, progress = doc.get("rollout") or {}, doc.get("progress") or {}
    step = progress.get("step")
    return int(step) + 1 if rollout.get("id") == rid and step is not None else None


def _mine(event: dict[str, Any], rollout_id: int, revisions: set[int]) -> bool:
    """An event of this rollout, or of one of its revisions' replicas (as `deploy` shows)."""
    if event["rollout_id"] is not None:
        return bool(event["rollout_id"] == rollout_id)
    return event["revision"] in revisions
