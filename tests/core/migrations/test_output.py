"""What is kept of a migration's output never holds a secret's value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from changeover.migrations.output import LINE_MAX, MASK, redact, tail


def test_the_tail_is_the_last_lines_redacted_and_cut() -> None:
    text = "one\n\n two \nthree postgres://u:hunter2@db/x\n" + "x" * 500
    said = tail(text, ["hunter2"], lines=3)
    assert said == f"two | three postgres://u:{MASK}@db/x | {'x' * LINE_MAX}..."


def test_a_secret_inside_another_leaves_no_piece() -> None:
    assert redact("abc-secret-xyz", ["secret", "abc-secret-xyz"]) == MASK
    assert redact("nothing here", ["", "zz"]) == "nothing here"


@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    secret=st.text(min_size=1, max_size=20),
    other=st.text(max_size=20),
)
def test_no_secret_survives(before: str, after: str, secret: str, other: str) -> None:
    text = f"{before}{secret}{after}\n{secret}"
    kept = redact(text, [secret, other])
    assert secret not in kept or secret in MASK
    said = tail(text, [secret, other])
    assert secret.strip() == "" or secret not in said or secret in MASK
