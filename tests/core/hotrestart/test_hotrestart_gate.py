"""The default readiness (`--ready auto`): what each answer and message means, and when
they add up to ready."""

from __future__ import annotations

import pytest

from changeover.hotrestart.gate import Gate, notify_mode_warning
from changeover.hotrestart.ready import (
    AutoReady,
    DelayReady,
    HttpReady,
    NotifyReady,
    waits_for,
)

GUNICORN = {"READY": "1", "STATUS": "Gunicorn arbiter booted"}
WHERE = "127.0.0.1:8080"


def gate() -> Gate:
    return Gate(2, WHERE)


def test_a_readiness_path_that_answers_2xx_or_3xx_is_ready() -> None:
    g = gate()
    assert g.path == "/readyz"
    assert g.answer(204) == ["generation 2 is ready: GET /readyz answered 204"]
    assert g.opened
    assert g.answer(200) == []  # opens once


def test_a_failing_readiness_path_is_not_ready_and_said_once() -> None:
    g = gate()
    assert g.answer(503) == ["generation 2: GET /readyz answered 503; not ready yet"]
    assert g.answer(503) == []
    assert not g.opened
    assert g.path == "/readyz"  # it exists: keep asking it
    assert g.answer(200) == ["generation 2 is ready: GET /readyz answered 200"]


@pytest.mark.parametrize("status", [404, 401, 405])
def test_without_a_readiness_path_any_answer_to_root_below_500_is_ready(status: int) -> None:
    g = gate()
    assert g.answer(status) == [
        f"generation 2: GET /readyz answered {status}, so readiness is GET / with any status"
        " below 500"
    ]
    assert g.path == "/"
    assert not g.opened
    assert g.answer(500) == ["generation 2: GET / answered 500; not ready yet"]
    assert g.answer(404) == ["generation 2 is ready: GET / answered 404"]


def test_gunicorns_early_ready_waits_for_an_answer_from_a_worker() -> None:
    g = gate()
    assert g.message(GUNICORN) == [
        "generation 2 sent READY=1 before any of its processes answers HTTP (gunicorn's"
        f" arbiter sends it before any worker has booted): waiting for an answer on {WHERE} too"
    ]
    assert not g.opened
    assert g.message({"READY": "1"}) == []  # a worker's own READY=1 adds nothing
    assert g.answer(200) == ["generation 2 is ready: GET /readyz answered 200 and it sent READY=1"]


def test_any_early_ready_is_named_without_the_gunicorn_hint() -> None:
    (note,) = gate().message({"READY": "1"})
    assert note.startswith("generation 2 sent READY=1 before any of its processes answers HTTP:")


def test_a_generation_that_speaks_notify_needs_ready_as_well() -> None:
    g = gate()
    assert g.message({"STATUS": "warming caches"}) == []
    assert g.answer(200) == [
        "generation 2: GET /readyz answered 200, but it sends notify messages: waiting for"
        " its READY=1 too"
    ]
    assert not g.opened
    assert g.answer(200) == []  # the HTTP side holds: no more probing needed
    assert g.http_ok
    assert g.message({"READY": "1"}) == [
        "generation 2 is ready: GET /readyz answered 200 and it sent READY=1"
    ]
    assert g.opened
    assert g.message({"READY": "1"}) == []


def test_ready_alone_never_opens_the_gate() -> None:
    g = gate()
    g.message({"READY": "1", "STATUS": "up"})
    g.answer(503)
    g.answer(502)
    assert not g.opened


def test_notify_mode_warns_about_gunicorns_early_ready_only() -> None:
    warning = notify_mode_warning(3, GUNICORN)
    assert warning is not None
    assert warning.startswith("generation 3: this READY=1 comes from gunicorn's arbiter")
    assert notify_mode_warning(3, {"READY": "1"}) is None
    assert notify_mode_warning(3, {"STATUS": "Gunicorn arbiter booted"}) is None


def test_the_log_says_what_each_mode_waits_for() -> None:
    assert waits_for(AutoReady(), WHERE) == (
        f"an HTTP answer from one of its processes on {WHERE} (GET /readyz with 200-399, or"
        " GET / with any status below 500 if it does not serve /readyz), and READY=1 too if"
        " it sends notify messages"
    )
    assert waits_for(NotifyReady(), WHERE).startswith("READY=1 on its NOTIFY_SOCKET")
    assert waits_for(HttpReady("/up"), WHERE) == (
        f"GET /up answered 200-399 by one of its processes on {WHERE}"
    )
    assert waits_for(DelayReady(2.5), WHERE) == "2.5s to pass with it alive"
