"""`[app] env_file` and `[app] secret_env`: what the spec accepts, and every problem with
its key path (never quoting a value)."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.spec.load import SpecError, load_spec_data, load_spec_text

BASE = '[app]\nname = "svc"\ncommand = "python -m app"\n'


def problems(text: str, base: Path | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec_text(BASE + text, "svc.toml", base=base)
    return info.value.lines()


def test_both_keys_are_optional() -> None:
    app = load_spec_text(BASE, "svc.toml").app
    assert (app.env_file, app.secret_env) == (None, [])


def test_env_file_and_secret_env_load(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=postgres://x\n")
    text = 'env_file = ".env"\nsecret_env = ["DATABASE_URL", "API_TOKEN"]\n'
    spec = load_spec_text(BASE + text, "svc.toml", base=tmp_path)
    assert spec.app.env_file == ".env"
    assert spec.app.secret_env == ["DATABASE_URL", "API_TOKEN"]
    # the snapshot a revision stores loads back (no filesystem check without a base)
    assert load_spec_data(spec.model_dump(mode="json"), "revision 1") == spec


@pytest.mark.parametrize(
    ("names", "path"),
    [
        ('["OK", "1BAD"]', "app.secret_env[1]"),
        ('["MY-VAR"]', "app.secret_env[0]"),
        ('[""]', "app.secret_env[0]"),
    ],
)
def test_secret_names_must_be_variable_names(names: str, path: str) -> None:
    assert problems(f"secret_env = {names}\n") == [
        f"svc.toml: {path}: invalid environment variable name "
        f"{names.strip('[]').split(', ')[-1].strip(chr(34))!r}; "
        "expected letters, digits and _, not starting with a digit"
    ]


def test_a_secret_listed_twice_is_a_problem() -> None:
    assert problems('secret_env = ["A", "B", "A"]\n') == [
        "svc.toml: app.secret_env: listed more than once: A"
    ]


def test_secret_env_must_be_a_list_of_strings() -> None:
    (line,) = problems('secret_env = "DATABASE_URL"\n')
    assert line.startswith("svc.toml: app.secret_env: ")


def test_a_secret_value_in_the_spec_is_refused_without_echoing_it() -> None:
    text = 'env = { LOG = "info", DATABASE_URL = "postgres://u:hunter2@db" }\n'
    lines = problems(text + 'secret_env = ["DATABASE_URL"]\n')
    assert lines == [
        "svc.toml: app.env.DATABASE_URL: named in app.secret_env, so its value must not be in "
        "the spec (each revision stores the spec); put it in the env_file or the agent's "
        "environment"
    ]
    assert "hunter2" not in "\n".join(lines)


def test_the_env_file_is_checked_beside_the_spec(tmp_path: Path) -> None:
    assert problems('env_file = ".env"\n', base=tmp_path) == [
        f"svc.toml: app.env_file: {tmp_path / '.env'}: cannot read: No such file or directory"
    ]
    (tmp_path / ".env").write_text("A=1\nexport TOKEN hunter2\n")
    (line,) = problems('env_file = ".env"\n', base=tmp_path)
    assert line == (
        f"svc.toml: app.env_file: {tmp_path / '.env'}:2: "
        "expected KEY=VALUE, a comment (# ...) or a blank line"
    )
    assert "hunter2" not in line


def test_the_env_file_is_not_read_without_a_base() -> None:
    spec = load_spec_text(BASE + 'env_file = "nowhere/.env"\n', "svc.toml")
    assert spec.app.env_file == "nowhere/.env"


def test_an_empty_env_file_name_is_a_problem() -> None:
    (line,) = problems('env_file = ""\n')
    assert line.startswith("svc.toml: app.env_file: ")


def test_env_file_problems_are_reported_next_to_other_sections(tmp_path: Path) -> None:
    lines = problems('env_file = ".env"\n[proxy]\nlisten = "nowhere"\n', base=tmp_path)
    assert [line.split(": ")[1] for line in lines] == ["proxy.listen", "app.env_file"]
