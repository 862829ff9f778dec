"""A missing real part skips a test outside CI and fails it in CI: never a silent pass."""

from __future__ import annotations

import shutil

import pytest

from tests import parts


def nowhere(*args: object, **kwargs: object) -> None:
    return None


def test_a_part_that_is_there_is_found() -> None:
    assert parts.require("sh", "dash").endswith("/sh")


def test_a_missing_part_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", nowhere)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install prometheus"):
        parts.require("prometheus", "prometheus")


def test_a_missing_part_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", nowhere)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="sshd is missing"):
        parts.require("sshd", "openssh-server")
