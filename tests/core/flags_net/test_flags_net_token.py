"""The token file of `[flags] listen`: every way it can be wrong, each with its message and
the command that fixes it; the spec rule; the bearer check as a property."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from changeover.agent.flags.gate import authorized
from changeover.agent.flags.listener import FlagsListener, ListenerError
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.models import FlagsSettings
from changeover.tokenfile import TokenFileError, read_token, user_name
from tests.io.flags_net._net import TOKEN


def refusal(path: Path) -> str:
    with pytest.raises(TokenFileError) as exc:
        read_token(path)
    return str(exc.value)


def test_a_good_file_gives_its_token_without_the_final_newline(token_file: Path) -> None:
    assert read_token(token_file) == TOKEN


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    path = tmp_path / "no such token"
    assert refusal(path) == (
        f"{path} does not exist; create it with `(umask 077; openssl rand -hex 32 > '{path}')`"
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o601, 0o700 | 0o070])
def test_a_file_open_to_group_or_others_is_refused_with_chmod(token_file: Path, mode: int) -> None:
    token_file.chmod(mode)
    assert refusal(token_file) == (
        f"{token_file} is open to group or others (mode {mode:04o}), so other users could "
        f"read the token; run `chmod 600 {token_file}`"
    )


def test_a_file_the_agent_cannot_read_says_whose_it_must_be(
    token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    # root reads any file whatever its mode: the kernel's answer for others, injected
    monkeypatch.setattr(Path, "read_bytes", denied)
    user = user_name()
    assert refusal(token_file) == (
        f"cannot read {token_file}: permission denied for the agent's user {user}; "
        f"run `chown {user} {token_file}`"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of any mode")
def test_a_file_with_mode_000_cannot_be_read(token_file: Path) -> None:
    token_file.chmod(0)
    assert refusal(token_file).startswith(f"cannot read {token_file}: permission denied")


def test_a_directory_is_not_a_token_file(tmp_path: Path) -> None:
    assert refusal(tmp_path) == f"{tmp_path} is not a regular file"


@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n"])
def test_an_empty_file_says_how_to_fill_it(token_file: Path, text: str) -> None:
    token_file.write_text(text)
    assert refusal(token_file) == (
        f"{token_file} is empty; write a token into it: `openssl rand -hex 32 > {token_file}`"
    )


@pytest.mark.parametrize("text", ["two words\n", "line\nline\n", "caf\u00e9\n", "tab\there"])
def test_a_token_is_one_word_of_visible_ascii(token_file: Path, text: str) -> None:
    token_file.write_text(text)
    assert refusal(token_file) == (
        f"{token_file}: expected one word of visible ASCII characters (no spaces or line "
        "breaks inside), such as the output of `openssl rand -hex 32`"
    )


def test_the_listener_names_the_spec_key_and_resolves_the_path_beside_the_spec(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "svc.toml"
    settings = FlagsSettings(listen="127.0.0.1:0", token_file="secrets/flags.token")
    with pytest.raises(ListenerError) as exc:
        FlagsListener.open(settings, spec)
    missing = tmp_path / "secrets" / "flags.token"
    assert str(exc.value).startswith(f"{spec}: flags.token_file: {missing} does not exist; ")


def test_the_spec_requires_a_token_file_with_listen() -> None:
    text = '[app]\nname = "svc"\ncommand = "run"\n[flags]\nlisten = "127.0.0.1:8090"\n'
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "svc.toml")
    assert exc.value.lines() == [
        "svc.toml: flags.token_file: required when listen is set: a file (mode 0600) holding "
        "the token clients send as `Authorization: Bearer <token>`"
    ]
    spec = load_spec_text(text + 'token_file = "token"\n', "svc.toml")
    assert spec.flags == FlagsSettings(listen="127.0.0.1:8090", token_file="token")
    assert load_spec_text(text.split("[flags]")[0], "svc.toml").flags.listen is None


WORD = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80)


@given(token=WORD, scheme=st.sampled_from(["Bearer", "bearer", "BEARER"]), pad=st.text(" "))
def test_the_token_passes_in_a_bearer_header(token: str, scheme: str, pad: str) -> None:
    assert authorized(f"{pad}{scheme} {token}{pad}", token.encode())


@given(token=WORD, other=WORD)
def test_any_other_token_or_scheme_fails(token: str, other: str) -> None:
    assume(other != token)
    expected = token.encode()
    assert not authorized(f"Bearer {other}", expected)
    assert not authorized(f"Basic {token}", expected)
    assert not authorized(token, expected)  # no scheme
    assert not authorized("Bearer", expected)
