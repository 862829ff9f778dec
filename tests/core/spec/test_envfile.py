"""The dotenv parser of env files: the syntax it takes, the errors it gives (file:line,
what is expected, never the file's text), and round trips found by Hypothesis."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.spec.envfile import EnvFileError, parse_env_text, read_env_file

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
VALUES = st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=30)
SECRET = "s3cr3t-Value"


def parse(text: str) -> dict[str, str]:
    return parse_env_text(text, "app.env")


def error(text: str) -> EnvFileError:
    with pytest.raises(EnvFileError) as info:
        parse(text)
    return info.value


def test_the_documented_syntax() -> None:
    text = (
        "\ufeff# a comment\n"
        "\n"
        "PLAIN=value\n"
        "  export EXPORTED=1\n"
        "SPACED = a b c   \n"
        "BLANK= # only a comment\n"
        "COLOR=#fff\n"
        "TRAILING=abc # a comment\n"
        "HASH=a#b\n"
        "EMPTY=\n"
        "SINGLE='a \\n $HOME # kept'\n"
        'DOUBLE="a\\tb\\n\\"q\\" \\\\ \\$X \\d" # comment\n'
        "EQUALS=postgres://u:p@h/db?sslmode=require\n"
        "PLAIN=last wins\n"
        "export=a variable named export\n"
        'MULTI="line 1\r\n'
        'line 2"\r\n'
        "PEM='-----BEGIN-----\n"
        "abc\n"
        "-----END-----'\n"
        "   # indented comment\n"
    )
    assert parse(text) == {
        "PLAIN": "last wins",
        "EXPORTED": "1",
        "SPACED": "a b c",
        "BLANK": "",
        "COLOR": "#fff",
        "TRAILING": "abc",
        "HASH": "a#b",
        "EMPTY": "",
        "SINGLE": "a \\n $HOME # kept",
        "DOUBLE": 'a\tb\n"q" \\ $X \\d',
        "EQUALS": "postgres://u:p@h/db?sslmode=require",
        "export": "a variable named export",
        "MULTI": "line 1\nline 2",
        "PEM": "-----BEGIN-----\nabc\n-----END-----",
    }


def test_an_empty_file_has_no_variables() -> None:
    assert parse("") == {}
    assert parse("\n\n# only comments\n") == {}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (f"A=1\n{SECRET}\n", 2, "expected KEY=VALUE, a comment (# ...) or a blank line"),
        (f"A=1\n\nexport {SECRET}\n", 3, "expected KEY=VALUE"),
        (f"postgres://u:{SECRET}@h/db?x=1\n", 1, "invalid variable name: expected letters"),
        (f"1A={SECRET}\n", 1, "invalid variable name"),
        (f"MY-VAR={SECRET}\n", 1, "invalid variable name"),
        (f"A=1\nB='{SECRET}\nC=2\n", 2, "the value's opening ' is never closed"),
        (f'B="{SECRET}\\"\n', 1, "the value's opening \" is never closed"),
        (f"A=1\nB='{SECRET}' trailing\n", 2, "unexpected text after the closing quote"),
        (f'B="x\n{SECRET}" more\n', 2, "unexpected text after the closing quote"),
        (f'B="{SECRET}\\0"\nC="\0"\n', 2, "a value cannot hold a NUL character"),
    ],
)
def test_errors_name_the_line_and_what_is_expected_never_the_text(
    text: str, line: int, message: str
) -> None:
    exc = error(text)
    assert exc.line == line
    assert message in exc.message
    assert str(exc).startswith(f"app.env:{line}: ")
    assert SECRET not in str(exc)


def test_read_env_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nexport B='two words'\n")
    assert read_env_file(path) == {"A": "1", "B": "two words"}
    path.write_text("A=1\nB\n")
    with pytest.raises(EnvFileError, match=rf"^{path}:2: expected KEY=VALUE"):
        read_env_file(path)


def test_an_unreadable_file_is_an_error_without_a_line(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError) as info:
        read_env_file(tmp_path / "missing.env")
    assert info.value.line is None
    assert str(info.value) == f"{tmp_path / 'missing.env'}: cannot read: No such file or directory"


def test_bytes_that_are_not_utf8_are_an_error_on_their_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(EnvFileError, match=r":2: not UTF-8 text$"):
        read_env_file(path)


def _double_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    escaped = escaped.replace("\r", "\\r")  # a raw CR before a newline ends the line
    return f'"{escaped}"'


@st.composite
def env_files(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """An env file in any of the forms the syntax allows, and the variables it holds."""
    variables = draw(st.dictionaries(NAMES, VALUES, max_size=6))
    lines = []
    for name, value in variables.items():
        forms = [_double_quoted(value), _double_quoted(value).replace("\n", "\\n")]
        if "'" not in value and "\r" not in value:
            forms.append(f"'{value}'")
        bare = value == value.strip(" \t") and not value.startswith(("'", '"'))
        if bare and not any(c in value for c in "#\n\r"):
            forms.append(value)
        prefix = draw(st.sampled_from(["", "export ", "  "]))
        equals = draw(st.sampled_from(["=", " = "]))
        comment = draw(st.sampled_from(["", " # note"]))
        if draw(st.booleans()):
            lines.append("# a comment")
        lines.append(f"{prefix}{name}{equals}{draw(st.sampled_from(forms))}{comment}")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + newline, variables


@settings(max_examples=300, deadline=None)
@given(env_files())
def test_every_form_of_a_value_parses_back_to_it(case: tuple[str, dict[str, str]]) -> None:
    text, variables = case
    assert parse(text) == variables


PIECES = ["A", "_", "1", "=", " = ", "#", " #", "'", '"', " ", "\\", "\n", "\t", "export ", "\r\n"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, SECRET, "\0"]), max_size=40))
def test_any_text_parses_or_fails_cleanly_without_quoting_it(pieces: list[str]) -> None:
    text = "".join(pieces)
    failure: EnvFileError | None = None
    try:
        parsed = parse(text)
    except EnvFileError as exc:
        failure, parsed = exc, {}
    assert all("\0" not in v for v in parsed.values())
    if failure is not None:
        assert SECRET not in str(failure)
        assert failure.line is not None
        assert 1 <= failure.line <= text.count("\n") + 1
