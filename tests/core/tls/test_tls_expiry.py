"""A certificate near or past its end is said (`tlsfiles.expiry`): by `check` as a
warning (exit 0), and by the agent at once then once a day (`tlsfiles.Reminder`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from typer.testing import CliRunner

from changeover.cli.app import app
from changeover.tlsfiles import EXPIRY_WARNING, Pair, Reminder, expiry
from tests.tlscerts import issue

CA = trustme.CA()
END = datetime(2027, 3, 1, tzinfo=UTC)


def pair(not_after: datetime = END, fingerprint: str = "AA") -> Pair:
    return Pair(b"cert", b"key", "CN=example.test", not_after, fingerprint)


def test_a_certificate_far_from_its_end_is_not_mentioned() -> None:
    assert expiry(pair(), END - EXPIRY_WARNING - timedelta(seconds=1)) is None


def test_the_last_two_weeks_are_counted_in_days_then_hours_then_expired() -> None:
    soon = expiry(pair(), END - timedelta(days=13, hours=5))
    assert soon is not None
    assert "expires in 13 days, at 2027-03-01T00:00:00Z" in soon
    assert "CN=example.test" in soon
    hours = expiry(pair(), END - timedelta(hours=30))
    assert hours is not None
    assert "expires in 30 hours" in hours
    gone = expiry(pair(), END)
    assert gone is not None
    assert "expired at 2027-03-01T00:00:00Z" in gone


def test_the_agent_says_it_at_once_then_once_a_day() -> None:
    reminder = Reminder()
    start = END - timedelta(days=10)
    assert reminder.due(pair(), start) is not None
    assert reminder.due(pair(), start + timedelta(hours=23)) is None
    assert reminder.due(pair(), start + timedelta(days=1)) is not None
    # a new pair is said at once; so is the same one passing its end
    assert reminder.due(pair(fingerprint="BB"), start + timedelta(days=1, hours=1)) is not None
    assert reminder.due(pair(fingerprint="BB"), END) is not None
    assert reminder.due(pair(fingerprint="BB"), END + timedelta(hours=1)) is None
    # renewed: nothing to say
    assert reminder.due(pair(END + timedelta(days=90), "CC"), END) is None


SPEC = """\
[app]
name = "web"
command = "python -m app"
[proxy]
tls = {{ cert = "{folder}/cert.pem", key = "{folder}/key.pem" }}
"""


def check(tmp_path: Path, days: float, *args: str) -> tuple[int, str, str]:
    folder = f"d{days}"
    issue(CA, tmp_path / folder, not_after=datetime.now(UTC) + timedelta(days=days))
    spec = tmp_path / "changeover.toml"
    spec.write_text(SPEC.format(folder=folder))
    result = CliRunner().invoke(app, ["check", "-f", str(spec), *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_warns_of_a_certificate_about_to_end_and_exits_0(tmp_path: Path) -> None:
    code, stdout, stderr = check(tmp_path, 5.5)
    assert code == 0
    assert "ok (web" in stdout
    assert f"warning: {tmp_path / 'changeover.toml'}: proxy.tls.cert:" in stderr
    assert "expires in 5 days" in stderr


def test_check_json_lists_the_warning_apart_from_the_problems(tmp_path: Path) -> None:
    code, stdout, _ = check(tmp_path, 3.5, "--json")
    doc = json.loads(stdout)
    assert (code, doc["ok"], doc["problems"]) == (0, True, [])
    (warning,) = doc["warnings"]
    assert warning["where"] == "proxy.tls.cert"
    assert "expires in 3 days" in warning["message"]


def test_check_says_nothing_of_a_certificate_good_for_months(tmp_path: Path) -> None:
    code, stdout, stderr = check(tmp_path, 90)
    assert (code, stderr) == (0, "")
    assert "warning" not in stdout
