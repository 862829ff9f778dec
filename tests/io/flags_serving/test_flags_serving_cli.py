"""`changeover flags`: file reading, argument checks, and every command against a served
control socket (uvicorn in the test's loop, the CLI in a worker thread, as in real use)."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from changeover.agent.api import create_app
from changeover.agent.control import ControlServer, bind_control_socket
from changeover.agent.core import Agent
from changeover.agent.events import EventLog
from changeover.agent.flags import FlagService
from changeover.agent.paths import StatePaths
from changeover.cli import flags
from changeover.cli.client import Refused, Unreachable
from changeover.store import Store

from ._helpers import run

T = TypeVar("T")
APP = typer.Typer()
APP.add_typer(flags.app, name="flags")  # as cli/app.py registers it

ROLLOUT_TOML = """\
name = "checkout"
enabled = true
owner = "payments"
expiresAt = 2999-01-01

[[strategies]]
name = "flexibleRollout"
parameters = { rollout = 10, stickiness = "userId" }
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# --- reading files and arguments ------------------------------------------------------------
def test_a_toml_flag_becomes_json_ready(tmp_path: Path) -> None:
    data = flags.read_flags_file(write(tmp_path, "f.toml", ROLLOUT_TOML))
    assert data["expiresAt"] == "2999-01-01"
    assert data["strategies"][0]["parameters"]["rollout"] == 10
    json.dumps(data)  # nothing left that JSON cannot carry


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "f.toml",
            'name = "a"\nenabled = tru',
            "f.toml: not valid TOML: Invalid value (at line 2, column 11)",
        ),
        ("f.json", "[1]", "f.json: expected a JSON object (one flag, or features)"),
        ("f.json", "{", "f.json: not valid JSON: Expecting property name enclosed in double"),
        ("f.yaml", "a: 1", "f.yaml: expected a .toml or .json file"),
    ],
)
def test_unreadable_files_are_named_with_the_reason(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(flags.FlagFileError) as exc:
        flags.read_flags_file(path)
    assert str(exc.value).startswith(str(tmp_path / message))


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(flags.FlagFileError, match=r"missing\.toml: cannot read: No such file"):
        flags.read_flags_file(tmp_path / "missing.toml")


@given(st.integers(0, 100), st.booleans())
def test_percentages_read_with_or_without_a_sign(percent: int, sign: bool) -> None:
    assert flags.parse_percent(f"{percent}{'%' if sign else ''}") == percent


@pytest.mark.parametrize("raw", ["101", "-1", "5.5", "half", "", "٣"])
def test_other_percentages_exit_2(raw: str) -> None:
    with pytest.raises(typer.Exit) as exc:
        flags.parse_percent(raw)
    assert exc.value.exit_code == 2


def test_who_defaults_to_user_at_host_and_takes_by() -> None:
    assert "@" in flags.who(None)
    assert flags.who(" release-bot ") == "release-bot"
    with pytest.raises(typer.Exit):
        flags.who("  ")


# --- commands against a served agent --------------------------------------------------------
def against_agent(paths: StatePaths, store: Store, use: Callable[[], T]) -> T:
    service = FlagService(store, EventLog(store))

    async def main() -> T:
        app = create_app(cast(Agent, SimpleNamespace(flags=service)))
        server = ControlServer(app, bind_control_socket(paths.control_socket))
        await server.start()
        try:
            return await asyncio.to_thread(use)
        finally:
            await server.stop()

    return run(main())


def cli(paths: StatePaths, *args: str) -> Result:
    env = {"COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(APP, ["flags", *args, "--state-dir", str(paths.root)], env=env)


@pytest.fixture
def paths(short_tmp: Path) -> StatePaths:
    paths = StatePaths(short_tmp / "state")
    paths.ensure()
    return paths


def test_create_rollout_list_get_and_stale(paths: StatePaths, store: Store) -> None:
    flag = write(paths.root, "flag.toml", ROLLOUT_TOML)
    expired = write(paths.root, "old.json", '{"name": "old", "enabled": false, '
                                            '"expires_at": "2020-01-01"}')  # fmt: skip

    def use() -> list[Result]:
        return [
            cli(paths, "create", str(flag), "--by", "ann"),
            cli(paths, "create", str(flag)),
            cli(paths, "rollout", "checkout", "50%", "--by", "bob"),
            cli(paths, "stale"),
            cli(paths, "set", str(expired), "--by", "ann"),
            cli(paths, "stale"),
            cli(paths, "stale", "--json"),
            cli(paths, "list"),
            cli(paths, "list", "--json"),
            cli(paths, "get", "checkout"),
        ]

    made, again, rolled, fresh, old, stale, stale_json, table, listed, got = against_agent(
        paths, store, use
    )
    assert (made.exit_code, made.stdout) == (0, "ann created flag 'checkout': on, 10%\n")
    assert again.exit_code == 2
    assert again.stderr == (
        f"{flag}: flag 'checkout' already exists; change it with `changeover flags set`\n"
    )
    assert rolled.stdout == "bob changed flag 'checkout': rollout 10% -> 50%\n"
    assert (fresh.exit_code, fresh.stdout) == (0, "no stale flags\n")
    assert old.exit_code == 0
    assert (stale.exit_code, stale.stdout) == (1, "old: expired 2020-01-01T00:00:00\n")
    assert stale_json.exit_code == 1
    assert json.loads(stale_json.stdout) == [
        {"name": "old", "owner": None, "stale": ["expired 2020-01-01T00:00:00"]}
    ]
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[1:]}
    assert rows["checkout"][:5] == ["checkout", "on", "50%", "payments", "2999-01-01T00:00:00"]
    assert rows["checkout"][-2:] == ["by", "bob"]
    assert rows["old"][:6] == ["old", "off", "everyone", "-", "2020-01-01T00:00:00", "(stale)"]
    assert [(f["name"], f["updated_by"]) for f in json.loads(listed.stdout)] == [
        ("checkout", "bob"),
        ("old", "ann"),
    ]
    assert json.loads(got.stdout)["strategies"][0]["parameters"]["rollout"] == "50"
    assert [e.message for e in store.events()][-1] == "ann created flag 'old': off, everyone"


def test_switches_and_archive(paths: StatePaths, store: Store) -> None:
    flag = write(paths.root, "flag.toml", ROLLOUT_TOML)

    def use() -> list[Result]:
        return [
            cli(paths, "set", str(flag)),
            cli(paths, "set", str(flag)),
            cli(paths, "disable", "checkout", "--by", "bob"),
            cli(paths, "enable", "checkout", "--by", "bob"),
            cli(paths, "archive", "checkout", "--by", "bob"),
            cli(paths, "list"),
        ]

    results = against_agent(paths, store, use)
    assert [r.exit_code for r in results] == [0] * 6
    assert [r.stdout for r in results[1:]] == [
        f"no changes: {flag} matches the stored flags\n",
        "bob changed flag 'checkout': enabled true -> false\n",
        "bob changed flag 'checkout': enabled false -> true\n",
        "bob archived flag 'checkout' (was on, 10%)\n",
        "no flags yet; create one with `changeover flags create FILE`\n",
    ]


def test_bad_input_exits_2_with_every_problem(paths: StatePaths, store: Store) -> None:
    bad = write(
        paths.root, "bad.toml", 'name = "x"\nenabled = "yes"\nowner = [3]\ncolour = "red"\n'
    )
    plain = write(paths.root, "plain.json", '{"name": "plain", "enabled": true}')

    def use() -> list[Result]:
        return [
            cli(paths, "set", str(bad)),
            cli(paths, "set", str(paths.root / "nope.toml")),
            cli(paths, "set", str(plain)),
            cli(paths, "rollout", "plain", "abc"),
            cli(paths, "rollout", "plain", "5"),
            cli(paths, "get", "missing"),
        ]

    problems, missing, _, percent, no_strategy, unknown = against_agent(paths, store, use)
    assert (problems.exit_code, problems.stderr.splitlines()) == (
        2,
        [
            f"{bad}: enabled: input should be a valid boolean (got 'yes')",
            f"{bad}: owner: input should be a valid string (got [3])",
        ],
    )
    assert missing.exit_code == 2
    assert "nope.toml: cannot read: No such file or directory" in missing.stderr
    assert percent.exit_code == 2
    assert "PCT: expected a whole percentage from 0 to 100, got 'abc'" in percent.stderr
    # refusals reach `changeover`'s main, which prints their lines and exits 2
    assert isinstance(no_strategy.exception, Refused)
    assert "this flag has none" in no_strategy.exception.lines[0]
    assert isinstance(unknown.exception, Refused)
    assert (unknown.exception.status, unknown.exception.lines) == (404, ["no flag named 'missing'"])


def test_no_agent_is_unreachable(paths: StatePaths) -> None:
    # httpcore leaves the socket of a failed unix connect to gc: drop every reference (the
    # exception's traceback holds it) and collect here, where that one warning is expected
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket.socket", ResourceWarning)
        result = cli(paths, "list")
        kind, message = type(result.exception), str(result.exception)
        del result
        gc.collect()
    assert kind is Unreachable  # main turns it into exit 3
    assert message.startswith("no agent is running")


def test_typed_values_survive_the_round_trip(paths: StatePaths, store: Store) -> None:
    doc = {
        "features": [{"name": "a", "enabled": True, "dependencies": [{"feature": "b"}]}],
        "segments": [{"id": 1, "constraints": []}],
    }
    both = write(paths.root, "both.json", json.dumps(doc))
    parent = write(paths.root, "b.json", '{"name": "b", "enabled": true}')

    def use() -> list[Result]:
        return [
            cli(paths, "set", str(both)),
            cli(paths, "set", str(parent)),
            cli(paths, "set", str(both)),
        ]

    results: list[Any] = against_agent(paths, store, use)
    assert results[0].exit_code == 2
    assert results[0].stderr == (
        f"{both}: features[0].dependencies[0].feature: no flag named 'b'; this flag stays off\n"
    )
    assert [r.exit_code for r in results[1:]] == [0, 0]
    assert store.flags_document()["segments"] == [{"id": 1, "constraints": []}]
