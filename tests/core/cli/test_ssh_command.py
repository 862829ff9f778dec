"""The ssh command lines reaching a remote environment: options, destination, the remote
line and its quoting, $CHANGEOVER_SSH and $CHANGEOVER_REMOTE."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from changeover.cli.ssh import SSH_OPTIONS, Remote, RemotePaths, SshHost


def remote(url: str, **environ: str) -> Remote:
    return Remote.of("prod", SshHost.parse(url), environ)


@pytest.mark.parametrize(
    ("url", "user", "host", "port", "path"),
    [
        ("ssh://deploy@prod-1:2222/srv/hello", "deploy", "prod-1", 2222, "/srv/hello"),
        ("ssh://prod-1/srv/hello", None, "prod-1", None, "/srv/hello"),
        ("ssh://root@127.0.0.1:22/", "root", "127.0.0.1", 22, "/"),
    ],
)
def test_the_host_url_parts(
    url: str, user: str | None, host: str, port: int | None, path: str
) -> None:
    parsed = SshHost.parse(url)
    assert (parsed.user, parsed.host, parsed.port, parsed.path) == (user, host, port, path)
    assert parsed.destination == (f"{user}@{host}" if user else host)


@pytest.mark.parametrize("url", ["ssh://prod-1", "http://prod-1/srv", "ssh://a@b@c/srv", ""])
def test_a_bad_host_url_says_what_is_expected(url: str) -> None:
    with pytest.raises(ValueError, match=r'expected "ssh://\[user@\]host\[:port\]/path'):
        SshHost.parse(url)


def test_dial_runs_changeover_in_the_service_folder_through_batch_mode_ssh() -> None:
    argv = remote("ssh://deploy@prod-1:2222/srv/hello").dial()
    assert argv == [
        "ssh",
        *SSH_OPTIONS,
        "-p",
        "2222",
        "deploy@prod-1",
        "--",
        "cd /srv/hello && changeover -E prod dial",
    ]
    assert "BatchMode=yes" in SSH_OPTIONS
    assert "-T" in SSH_OPTIONS  # a pipe, never a terminal
    assert any(option.startswith("ConnectTimeout=") for option in SSH_OPTIONS)


def test_no_port_means_no_port_option() -> None:
    argv = remote("ssh://prod-1/srv/hello").command("down")
    assert "-p" not in argv
    assert argv[-3:] == ["prod-1", "--", "cd /srv/hello && changeover -E prod down"]


@pytest.mark.parametrize(
    "path", ["/srv/hello", "/srv/it's;rm${IFS}-rf~", "/srv/$HOME/`id`", "/srv/a&&b|c>d", "/srv/*"]
)
def test_the_remote_shell_reads_every_word_back_as_it_was(path: str) -> None:
    spec = remote(f"ssh://prod-1{path}")
    line = spec.command("deploy", "--version", "v2 (hotfix)")[-1]
    cd, sep, command = line.partition(" && ")
    assert sep
    assert shlex.split(cd) == ["cd", path]
    assert shlex.split(command) == [
        "changeover",
        "-E",
        "prod",
        "deploy",
        "--version",
        "v2 (hotfix)",
    ]


def test_the_ssh_command_and_the_remote_program_come_from_the_environment() -> None:
    spec = remote(
        "ssh://deploy@prod-1/srv/hello",
        CHANGEOVER_SSH="ssh -F '/home/me/my ssh/config'",
        CHANGEOVER_REMOTE="env PYTHONPATH=/opt/co/src /opt/co/bin/changeover",
    )
    argv = spec.dial()
    assert argv[:3] == ["ssh", "-F", "/home/me/my ssh/config"]
    assert argv[-1] == (
        "cd /srv/hello && env PYTHONPATH=/opt/co/src /opt/co/bin/changeover -E prod dial"
    )


def test_blank_variables_mean_the_defaults() -> None:
    spec = remote("ssh://prod-1/srv", CHANGEOVER_SSH="  ", CHANGEOVER_REMOTE="")
    assert (spec.ssh, spec.program) == (("ssh",), ("changeover",))


@pytest.mark.parametrize("var", ["CHANGEOVER_SSH", "CHANGEOVER_REMOTE"])
def test_a_variable_that_is_no_command_line_is_named(var: str) -> None:
    with pytest.raises(ValueError, match=rf"\${var}: No closing quotation in \"ssh -F 'x\""):
        remote("ssh://prod-1/srv", **{var: "ssh -F 'x"})


def test_paths_on_the_host_are_relative_to_its_service_folder() -> None:
    spec = remote("ssh://prod-1/srv/hello")
    assert spec.on_host("releases/v2") == "/srv/hello/releases/v2"
    assert spec.on_host(Path("/opt/v2")) == "/opt/v2"
    assert str(spec.state_dir) == "/srv/hello/.changeover/prod"
    paths = RemotePaths.of(spec)
    assert (paths.root, paths.remote) == (Path("/srv/hello/.changeover/prod"), spec)
    assert str(spec) == "environment prod on ssh://prod-1/srv/hello"
