"""Secrets: the digest and its key, a release's environment (precedence, where each secret
comes from, refusals), and reading secrets again when a replica starts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from changeover.agent.secret_env import (
    ENVIRONMENT,
    DigestKey,
    EnvFile,
    SecretError,
    SecretReader,
    _make_key,
    digest,
    load_key,
    release_env,
)

KEY = b"k" * 32
VALUE = "postgres://app:hunter2@db/app"


def key() -> bytes:
    return KEY


def test_a_digest_is_keyed_short_and_tells_values_apart() -> None:
    one = digest(KEY, VALUE)
    assert one.startswith("hmac-sha256:")
    assert len(one.removeprefix("hmac-sha256:")) == 16
    assert digest(KEY, VALUE) == one
    assert digest(KEY, VALUE + "x") != one
    assert digest(b"other-key" * 4, VALUE) != one  # comparable within one state dir only
    assert "hunter2" not in one


def test_the_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "digest.key"
    first = load_key(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == first
    _make_key(path)  # a second agent racing the first one keeps the first one's key
    assert load_key(path) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digest.key"]
    assert load_key(tmp_path / "elsewhere.key") != first


def test_a_key_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "digest.key"
    path.write_text("ab" * 32)
    path.chmod(0o644)
    assert load_key(path) == bytes.fromhex("ab" * 32)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", ["", "not hex", "ab" * 31])
def test_a_damaged_key_is_an_error_saying_what_to_do(tmp_path: Path, text: str) -> None:
    path = tmp_path / "digest.key"
    path.write_text(text)
    with pytest.raises(SecretError, match=r"expected 64 hex digits .* restore it from a backup"):
        load_key(path)


def test_the_key_is_read_on_first_use_only(tmp_path: Path) -> None:
    path = tmp_path / "digest.key"
    lazy = DigestKey(path)
    assert not path.exists()
    assert lazy() == load_key(path) == lazy()


def env_file(tmp_path: Path, name: str, text: str, origin: str = "app.env_file") -> EnvFile:
    path = tmp_path / name
    path.write_text(text)
    return EnvFile(path, origin)


def test_precedence_spec_then_env_files_then_the_command_line(tmp_path: Path) -> None:
    spec_file = env_file(tmp_path, ".env", "A=file\nB=file\nC=file\n")
    deploy_file = env_file(tmp_path, "deploy.env", "B=deploy\nC=deploy\n", "--env-file")
    found = release_env(
        spec_env={"A": "spec", "S": "spec"},
        files=[spec_file, deploy_file],
        cli_env={"C": "cli"},
        secret=[],
        environ={"A": "agent"},
        key=key,
    )
    assert found.env == {"A": "file", "B": "deploy", "C": "cli", "S": "spec"}
    assert found.sources == {}


def test_a_secret_is_stored_as_its_digest_with_where_it_came_from(tmp_path: Path) -> None:
    spec_file = env_file(tmp_path, ".env", f"DATABASE_URL={VALUE}\nLOG=debug\n")
    found = release_env(
        spec_env={"LOG": "info"},
        files=[spec_file],
        cli_env={},
        secret=["DATABASE_URL", "TOKEN"],
        environ={"TOKEN": "t0ken", "DATABASE_URL": "from-the-agent"},
        key=key,
    )
    assert found.env == {
        "LOG": "debug",
        "DATABASE_URL": digest(KEY, VALUE),  # the env file wins over the agent's environment
        "TOKEN": digest(KEY, "t0ken"),
    }
    assert found.sources == {"DATABASE_URL": str(spec_file.path), "TOKEN": ENVIRONMENT}


def test_the_last_env_file_that_has_a_secret_is_its_source(tmp_path: Path) -> None:
    spec_file = env_file(tmp_path, ".env", "DATABASE_URL=old\n")
    deploy_file = env_file(tmp_path, "prod.env", f"DATABASE_URL={VALUE}\n", "--env-file")
    found = release_env(
        spec_env={}, files=[spec_file, deploy_file], cli_env={}, secret=["DATABASE_URL"],
        environ={}, key=key,
    )  # fmt: skip
    assert found.env == {"DATABASE_URL": digest(KEY, VALUE)}
    assert found.sources == {"DATABASE_URL": str(deploy_file.path)}


def test_a_secret_on_the_command_line_is_refused_saying_where_it_goes(tmp_path: Path) -> None:
    spec_file = env_file(tmp_path, ".env", "")
    with pytest.raises(SecretError) as info:
        release_env(
            spec_env={}, files=[spec_file], cli_env={"DATABASE_URL": VALUE, "OK": "1"},
            secret=["DATABASE_URL"], environ={}, key=key,
        )  # fmt: skip
    assert info.value.args == (
        "--env DATABASE_URL: DATABASE_URL is a secret (app.secret_env), and a command line is "
        "seen by `ps` and kept in shell history; put it in the env file "
        f"({spec_file.path}), a file given with --env-file, or the agent's environment",
    )
    assert "hunter2" not in str(info.value)


def test_a_secret_found_nowhere_names_every_place_looked_in(tmp_path: Path) -> None:
    spec_file = env_file(tmp_path, ".env", "OTHER=1\n")
    deploy_file = env_file(tmp_path, "prod.env", "", "--env-file")
    with pytest.raises(SecretError) as info:
        release_env(
            spec_env={}, files=[spec_file, deploy_file], cli_env={},
            secret=["DATABASE_URL", "OTHER", "TOKEN"], environ={"PATH": "/bin"}, key=key,
        )  # fmt: skip
    places = (
        f"{spec_file.path} (app.env_file), {deploy_file.path} (--env-file), the agent's environment"
    )
    assert info.value.args == (
        f"app.secret_env: DATABASE_URL was found nowhere; looked in {places}; "
        "put it in one of them",
        f"app.secret_env: TOKEN was found nowhere; looked in {places}; put it in one of them",
    )


def test_without_env_files_only_the_agents_environment_is_looked_in() -> None:
    with pytest.raises(SecretError, match="looked in the agent's environment; put it"):
        release_env(
            spec_env={}, files=[], cli_env={}, secret=["TOKEN"], environ={}, key=key
        )  # fmt: skip


def test_a_bad_env_file_names_its_origin_and_line(tmp_path: Path) -> None:
    deploy_file = env_file(tmp_path, "prod.env", f"A=1\n{VALUE}\n", "--env-file")
    with pytest.raises(SecretError) as info:
        release_env(spec_env={}, files=[deploy_file], cli_env={}, secret=[], environ={}, key=key)
    assert str(info.value) == (
        f"--env-file: {deploy_file.path}:2: expected KEY=VALUE, a comment (# ...) or a blank line"
    )


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []

    def __call__(self, who: str, name: str, deployed: str, now: str) -> None:
        self.seen.append((who, name, deployed, now))


def reader(
    sources: dict[str, str], digests: dict[str, str], environ: dict[str, str], changes: Changes
) -> SecretReader:
    return SecretReader(3, sources, digests, key, changes, environ=environ)


def test_the_reader_reads_each_source_at_every_start(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(f"DATABASE_URL={VALUE}\n")
    changes, environ = Changes(), {"TOKEN": "t0ken"}
    read = reader(
        {"DATABASE_URL": str(path), "TOKEN": ENVIRONMENT},
        {"DATABASE_URL": digest(KEY, VALUE), "TOKEN": digest(KEY, "t0ken")},
        environ,
        changes,
    )
    assert read.values("r3-1") == {"DATABASE_URL": VALUE, "TOKEN": "t0ken"}
    assert changes.seen == []
    path.write_text("DATABASE_URL=rotated\n")
    environ["TOKEN"] = "t0ken-2"
    assert read.values("r3-2") == {"DATABASE_URL": "rotated", "TOKEN": "t0ken-2"}
    assert read.values("r3-1") == {"DATABASE_URL": "rotated", "TOKEN": "t0ken-2"}
    assert changes.seen == [  # once per new value, naming the replica that saw it first
        ("r3-2", "DATABASE_URL", digest(KEY, VALUE), digest(KEY, "rotated")),
        ("r3-2", "TOKEN", digest(KEY, "t0ken"), digest(KEY, "t0ken-2")),
    ]


def test_a_secret_gone_from_its_source_fails_the_start(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("OTHER=1\n")
    read = reader({"DATABASE_URL": str(path)}, {}, {"DATABASE_URL": VALUE}, Changes())
    with pytest.raises(SecretError) as info:
        read.values("r3-1")
    assert str(info.value) == (
        f"secret DATABASE_URL of revision 3 is no longer in {path}, where it was at deploy; "
        "put it back there, or deploy again to read it from where it is now"
    )
    read = reader({"TOKEN": ENVIRONMENT}, {}, {}, Changes())
    with pytest.raises(SecretError, match="TOKEN of revision 3 is no longer in the agent's env"):
        read.values("r3-1")


def test_an_env_file_gone_or_broken_fails_the_start(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    read = reader({"DATABASE_URL": str(path)}, {}, {}, Changes())
    with pytest.raises(SecretError, match=f"DATABASE_URL of revision 3: {path}: cannot read"):
        read.values("r3-1")
    path.write_text(f"DATABASE_URL='{VALUE}\n")
    with pytest.raises(SecretError) as info:
        read.values("r3-1")
    assert str(info.value).endswith(f"{path}:1: the value's opening ' is never closed")
    assert "hunter2" not in str(info.value)


def test_the_reader_uses_the_agents_live_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANGEOVER_TEST_TOKEN", "live")
    read = SecretReader(3, {"CHANGEOVER_TEST_TOKEN": ENVIRONMENT}, {}, key, Changes())
    assert read.values("r3-1") == {"CHANGEOVER_TEST_TOKEN": "live"}
    monkeypatch.setenv("CHANGEOVER_TEST_TOKEN", "later")
    assert read.values("r3-1") == {"CHANGEOVER_TEST_TOKEN": "later"}
    assert os.environ["CHANGEOVER_TEST_TOKEN"] == "later"
