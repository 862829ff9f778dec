"""`changeover release create | next | list | show | notes | train | promote | rollback |
prune`:
releases built once, promoted to environments as the same bytes.

Invariant: an environment's agent gets a release only as the artifact `release create`
kept, checked by its sha256 on arrival; a promotion is posted only once the agent holds
that exact artifact, and then follows the rollout like `deploy` (0 succeeded, 1 rolled
back; Ctrl-C detaches). Every environment is reached through `client_for`, the one
place that knows how.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from changeover.agent.artifact_format import CHUNK
from changeover.cli import (
    release_cut,
    release_gates,
    release_notes,
    release_prune,
    release_store,
    release_train,
    release_version,
)
from changeover.cli.client import AgentClient
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    FAILED,
    INTERRUPTED,
    OK,
    Json,
    SpecFile,
    duration_option,
    err,
    fail,
    out,
    spec_path,
    state_paths,
)
from changeover.cli.deploy import report
from changeover.cli.follow import events_after, follow_attached
from changeover.cli.release_env import (
    client_for,
    environment_view,
    environments,
    held_by,
    settings_of,
)
from changeover.cli.release_view import list_table, show_view, when

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
app.command(short_help="Pack the service folder into a release artifact.")(release_cut.create)
app.command(name="next", short_help="The next release's version, and why.")(release_version.next_)
NoWait = Annotated[bool, typer.Option("--no-wait", help="Return once the rollout started.")]
__all__ = ["app", "client_for", "environments"]


@app.command(name="list", short_help="The releases built here, newest first.")
def list_releases(file: SpecFile = DEFAULT_SPEC, json: Json = False) -> None:
    """The releases kept in .changeover/releases/, newest first."""
    releases = release_store.every(release_store.releases_dir(spec_path(file)))
    if json:
        out.print_json(data={"releases": releases})
    else:
        out.print(list_table(releases))


@app.command(short_help="A release and where it runs, per environment.")
def show(
    version: Annotated[str, typer.Argument(metavar="V", help="The release's version.")],
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """A release's metadata, and for each environment of the spec whether its agent holds
    it and its promotions there (an agent that cannot be asked shows as unreachable)."""
    spec_file = spec_path(file)
    meta = local_release(spec_file, version, artifact=False)
    envs = [
        environment_view(spec_file, name, version, meta["sha256"])
        for name in environments(spec_file)
    ]
    doc = {"release": meta, "environments": envs}
    if json:
        out.print_json(data=doc)
    else:
        out.print(show_view(doc))


@app.command(short_help="Upload a release to an environment and roll it out there.")
def promote(
    version: Annotated[str, typer.Argument(metavar="V", help="The release's version.")],
    to: Annotated[str, typer.Option("--to", metavar="ENV", help="The target environment.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the gates, then roll out.")
    ] = False,
    wait_timeout: Annotated[
        float | None,
        duration_option("--wait-timeout", help="Give up waiting for the gates after this."),
    ] = None,
    no_wait: NoWait = False,
    lock_timeout: Annotated[
        float,
        duration_option(
            "--lock-timeout",
            help="How long to wait for a `release prune` using the store.",
            default=release_store.LOCK_WAIT,
        ),
    ] = release_store.LOCK_WAIT,
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Upload release V to ENV's agent unless it holds it (same sha256), bring the soak
    evidence from the environment it is promoted from, and roll it out with ENV's
    strategy once ENV's agent finds its gates met; exit 1 if a gate is unmet (the
    promotion then waits, on record; --wait waits for it) or the rollout is rolled back.
    Waits for a `release prune` of the store (exit 1 past --lock-timeout, nothing sent)."""
    spec_file = spec_path(file)
    folder = release_store.releases_dir(spec_file)
    with contextlib.ExitStack() as store_lock:
        # shared with other promotes, never with a prune: from reading the release until
        # ENV's agent has the promotion on record, which a prune then asks about
        try:
            store_lock.enter_context(
                release_store.locked(
                    folder,
                    exclusive=False,
                    wait=lock_timeout,
                    waiting=partial(release_prune.say_waiting, folder),
                )
            )
        except release_store.StoreBusy:
            fail(FAILED, *release_prune.busy(folder, lock_timeout, "nothing sent"))
        meta = local_release(spec_file, version)
        settings = settings_of(spec_file, to)
        sha256 = meta["sha256"]

        def evidence() -> dict[str, Any] | None:
            return release_gates.fetch_evidence(spec_file, settings, version, sha256)

        evidence()  # a release that never ran in the source is refused before any upload
        with client_for(spec_file, to) as client:
            refuse_if_busy(client, to)
            uploaded = ensure_held(client, spec_file, meta, to, quiet=json)
            body = {
                "version": version,
                "sha256": sha256,
                "from_environment": settings.promote_from,
                "hotfix": bool(meta.get("hotfix")),
                "spec_file": meta.get("spec_file", spec_file.name),
            }
            answer = release_gates.promote_through_gates(
                client, body, evidence, wait=wait, wait_timeout=wait_timeout, json=json,
                environment=to, posted=store_lock.close,
            )  # fmt: skip
            say_skipped(answer.get("gates") or [], json=json)
            finish(client, answer, uploaded=uploaded, no_wait=no_wait, json=json, environment=to)


@app.command(short_help="Return the environment (-E) to the release it ran before.")
def rollback(no_wait: NoWait = False, file: SpecFile = DEFAULT_SPEC, json: Json = False) -> None:
    """Promote again the release this environment (-E ENV) ran before its current one,
    through the normal rollout; exit 2 if there is none."""
    with AgentClient(state_paths(None, file)) as client:
        answer = client.post("/v1/promotions/rollback")
        finish(client, answer, uploaded=False, no_wait=no_wait, json=json)


# --- helpers ---------------------------------------------------------------------------
def local_release(spec_file: Path, version: str, *, artifact: bool = True) -> dict[str, Any]:
    """Release `version`'s record, with its artifact unless `artifact` is False (a
    pruned release still has its record); exit 2 when there is none."""
    folder = release_store.releases_dir(spec_file)
    pruned = release_store.record(folder, version)
    meta = release_store.read(folder, version) if artifact else pruned
    if meta is None and pruned is not None and "pruned_at" in pruned:
        fail(
            BAD_INPUT,
            f"release {version} was pruned from {folder} (`release prune`, "
            f"{when(pruned.get('pruned_at'))}): its record stays, its artifact is gone; "
            "promote a newer release, or create a new version",
        )
    if meta is None:
        known = [m["version"] for m in release_store.every(folder)][:10]
        fail(
            BAD_INPUT,
            f"unknown release {version!r} in {folder}; known: {', '.join(known) or 'none'} "
            "(`changeover release create --version V` makes one)",
        )
    return {**meta, "artifact": str(release_store.artifact_path(folder, version))}


def refuse_if_busy(client: AgentClient, environment: str) -> None:
    """Exit 2 before uploading anything if a rollout runs there (the agent refuses the
    promotion anyway; this saves the upload)."""
    rollout = client.get("/v1/status").get("rollout")
    if rollout is not None and rollout.get("finished_at") is None:
        fail(
            BAD_INPUT,
            f"rollout {rollout['id']} is still in progress in {environment}; wait for it to finish",
        )


def ensure_held(
    client: AgentClient, spec_file: Path, meta: dict[str, Any], environment: str, *, quiet: bool
) -> bool:
    """Upload the artifact unless the agent holds it; whether it was uploaded."""
    version, sha256 = meta["version"], meta["sha256"]
    held = held_by(client, version)
    if held is not None and held["sha256"] != sha256:
        fail(
            BAD_INPUT,
            f"{environment} holds another artifact as release {version} (sha256 "
            f"{held['sha256']}, here {sha256}): a version names one artifact; create a new one",
        )
    if held is not None:
        if not quiet:
            out.print(f"{environment} holds {version} already (sha256 {sha256[:12]})")
        return False
    artifact = Path(meta["artifact"])
    size = artifact.stat().st_size
    try:
        with Upload(artifact, size, f"{version} to {environment}", quiet) as chunks:
            held = client.put(f"/v1/artifacts/{version}", chunks, size=size, sha256=sha256)
    except KeyboardInterrupt:
        err.print(f"upload interrupted: nothing changed in {environment}")
        raise typer.Exit(INTERRUPTED) from None
    if not quiet:
        out.print(f"uploaded {version} to {environment}: unpacked in {held['path']}", markup=False)
    return True


class Upload:
    """The artifact's chunks, with a progress bar on a terminal."""

    def __init__(self, artifact: Path, size: int, what: str, quiet: bool) -> None:
        self.artifact, self.size, self.what = artifact, size, what
        self.progress: Progress | None = None
        if not quiet and err.is_terminal:
            self.progress = Progress(
                TextColumn("uploading {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=err,
                transient=True,
            )

    def __enter__(self) -> Iterator[bytes]:
        if self.progress is not None:
            self.progress.start()
        return self._chunks()

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _chunks(self) -> Iterator[bytes]:
        task = None if self.progress is None else self.progress.add_task(self.what, total=self.size)
        with self.artifact.open("rb") as f:
            while chunk := f.read(CHUNK):
                if self.progress is not None and task is not None:
                    self.progress.advance(task, len(chunk))
                yield chunk


def say_skipped(gates: list[dict[str, Any]], *, json: bool) -> None:
    """A hotfix's skipped gates, said loudly before its rollout."""
    for g in gates:
        if g["state"] == "skipped" and not json:
            err.print(f"[bold red]{escape(g['gate'])}[/bold red]: {escape(g['summary'])}")


def finish(
    client: AgentClient,
    answer: dict[str, Any],
    *,
    uploaded: bool,
    no_wait: bool,
    json: bool,
    environment: str | None = None,
) -> None:
    """Follow the rollout a promotion started, as `deploy` does; exit by its outcome."""
    promotion = answer.pop("promotion")
    answer.pop("gates", None)
    answer.pop("waiting", None)
    if no_wait:
        if json:
            out.print_json(data={"promotion": promotion, "uploaded": uploaded, "rollout": answer})
        else:
            out.print(
                f"rollout {answer['id']} started: revision {answer['from_revision']} -> "
                f"{answer['to_revision']} ({promotion['version']})",
                markup=False,
            )
        return
    final = follow_attached(
        client, answer, events_after(answer), quiet=json, environment=environment
    )
    if json:
        out.print_json(data={"promotion": promotion, "uploaded": uploaded, "rollout": final})
    elif final["phase"] == "succeeded":
        report(final)
    else:
        report(final, client.get("/v1/status"))
    raise typer.Exit(OK if final["phase"] == "succeeded" else FAILED)


app.command(short_help="Approve a promotion waiting for approvals.")(release_gates.approve)
app.command(short_help="Reject a waiting promotion (it waits no more).")(release_gates.reject)
app.command(short_help="Tick a manual checklist item of a waiting promotion.")(release_gates.check)
app.command(short_help="A release's notes, with what it met in each environment.")(
    release_notes.notes
)
app.command(short_help="The release train: its cut-off and what it would carry.")(
    release_train.train
)
app.command(short_help="Remove old release artifacts from this build store.")(release_prune.prune)
