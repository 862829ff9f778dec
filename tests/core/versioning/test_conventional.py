"""Conventional Commits 1.0.0: the specification's examples, its rules, and a round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.versioning.conventional import Footer, Message, format_message, parse

# The examples of https://www.conventionalcommits.org/en/v1.0.0/ ("Examples", "FAQ").
SPEC_EXAMPLES = [
    (
        "feat: allow provided config object to extend other configs\n\n"
        "BREAKING CHANGE: `extends` key in config file is now used for extending other "
        "config files",
        Message(
            "feat",
            "allow provided config object to extend other configs",
            footers=(
                Footer(
                    "BREAKING CHANGE",
                    "`extends` key in config file is now used for extending other config files",
                ),
            ),
        ),
    ),
    (
        "feat!: send an email to the customer when a product is shipped",
        Message("feat", "send an email to the customer when a product is shipped", bang=True),
    ),
    (
        "feat(api)!: send an email to the customer when a product is shipped",
        Message(
            "feat", "send an email to the customer when a product is shipped", "api", bang=True
        ),
    ),
    (
        "chore!: drop support for Node 6\n\n"
        "BREAKING CHANGE: use JavaScript features not available in Node 6.",
        Message(
            "chore",
            "drop support for Node 6",
            bang=True,
            footers=(
                Footer("BREAKING CHANGE", "use JavaScript features not available in Node 6."),
            ),
        ),
    ),
    ("docs: correct spelling of CHANGELOG", Message("docs", "correct spelling of CHANGELOG")),
    ("feat(lang): add Polish language", Message("feat", "add Polish language", "lang")),
    (
        "fix: prevent racing of requests\n\n"
        "Introduce a request id and a reference to latest request. Dismiss\n"
        "incoming responses other than from latest request.\n\n"
        "Remove timeouts which were used to mitigate the racing issue but are\n"
        "obsolete now.\n\n"
        "Reviewed-by: Z\n"
        "Refs: #123",
        Message(
            "fix",
            "prevent racing of requests",
            body=(
                "Introduce a request id and a reference to latest request. Dismiss\n"
                "incoming responses other than from latest request.\n\n"
                "Remove timeouts which were used to mitigate the racing issue but are\n"
                "obsolete now."
            ),
            footers=(Footer("Reviewed-by", "Z"), Footer("Refs", "#123")),
        ),
    ),
    (
        "revert: let us never again speak of the noodle incident\n\nRefs: 676104e, a215868",
        Message(
            "revert",
            "let us never again speak of the noodle incident",
            footers=(Footer("Refs", "676104e, a215868"),),
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SPEC_EXAMPLES)
def test_the_specifications_examples(text: str, expected: Message) -> None:
    assert parse(text) == expected
    assert format_message(expected) == text


@pytest.mark.parametrize(
    ("text", "breaking"),
    [
        ("feat: x", False),
        ("feat!: x", True),
        ("fix(api)!: x", True),
        ("feat: x\n\nBREAKING CHANGE: y", True),
        ("feat: x\n\nBREAKING-CHANGE: y", True),  # rule 16: a synonym
        ("feat: x\n\nbreaking change: y", False),  # rule 15: only in capitals
        ("feat: x\n\nBreaking-Change: y", False),
        ("feat: x\n\nthe BREAKING CHANGE: word mid-line is prose", False),
    ],
)
def test_breaking_changes_by_bang_or_footer(text: str, breaking: bool) -> None:
    message = parse(text)
    assert message is not None
    assert message.breaking is breaking


def test_footers_use_either_separator_and_values_span_lines() -> None:
    message = parse(
        "fix: x\n\nbody\n\nFixes #42\nBREAKING CHANGE: the old flag is gone:\n"
        "use --new instead\nand restart\nAcked-by: Ann"
    )
    assert message is not None
    assert message.body == "body"
    assert message.footers == (
        Footer("Fixes", "42", " #"),
        Footer("BREAKING CHANGE", "the old flag is gone:\nuse --new instead\nand restart"),
        Footer("Acked-by", "Ann"),
    )
    assert message.breaking_notes == ("the old flag is gone:\nuse --new instead\nand restart",)
    assert message.values("acked-BY") == ("Ann",)


def test_a_footer_like_line_inside_a_paragraph_stays_body() -> None:
    message = parse("feat: x\n\nfirst line\nNote: not a footer, mid-paragraph")
    assert message is not None
    assert message.body == "first line\nNote: not a footer, mid-paragraph"
    assert message.footers == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FEAT(Api): Add it", Message("feat", "Add it", "Api")),  # rule 15: types any case
        ("feat: x\nno blank line", Message("feat", "x", body="no blank line")),  # lenient
        ("feat: trailing  \r\n\r\nbody\r\n", Message("feat", "trailing", body="body")),
        ("\n\nfeat: x\n\n\n", Message("feat", "x")),
    ],
)
def test_case_and_whitespace(text: str, expected: Message) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Merge branch 'main' into feature",
        'Revert "feat: add x"',
        "fixup! feat: add x",
        "Add a feature",
        "feat:missing space",
        "feat: ",
        "feat(): empty scope",
        "feat (api): space before the scope",
        "feat(a(b)): nested",
        ": no type",
        "",
    ],
)
def test_not_conventional(text: str) -> None:
    assert parse(text) is None


# --- the round trip: whatever the grammar can write parses back to the same message ---

_WORD = st.text(
    st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="`'.,!?()"),
    min_size=1,
    max_size=8,
)
_TOKEN = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True)


def _line(words: list[str]) -> str:
    return " ".join(words)


# Words hold no ":" nor "#", so a body or value line never opens a footer by accident.
_PLAIN = st.lists(_WORD, min_size=1, max_size=6).map(_line)
_PARAGRAPH = st.lists(_PLAIN, min_size=1, max_size=3).map("\n".join)
_BODY = st.lists(_PARAGRAPH, max_size=3).map("\n\n".join)
_FOOTER = st.builds(
    Footer,
    token=st.one_of(_TOKEN, st.sampled_from(["BREAKING CHANGE", "BREAKING-CHANGE"])),
    value=st.lists(_PLAIN, min_size=1, max_size=3).map("\n".join),
    separator=st.sampled_from([": ", " #"]),
)
_MESSAGE = st.builds(
    Message,
    type=st.from_regex(r"[a-z][a-z0-9-]{0,9}", fullmatch=True),
    description=st.lists(_WORD, min_size=1, max_size=8).map(_line),
    scope=st.one_of(st.none(), st.from_regex(r"[a-z0-9][a-z0-9_./ -]{0,12}", fullmatch=True)),
    bang=st.booleans(),
    body=_BODY,
    footers=st.lists(_FOOTER, max_size=4).map(tuple),
)


@given(_MESSAGE)
def test_what_is_written_parses_back(message: Message) -> None:
    assert parse(format_message(message)) == message


@given(st.text(max_size=200))
def test_parse_never_raises(text: str) -> None:
    message = parse(text)
    assert message is None or format_message(message).split("\n", 1)[0].endswith(
        message.description
    )
