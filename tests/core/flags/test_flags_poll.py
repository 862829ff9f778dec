"""The pure refresh decisions: long-poll detection, interval fallback, backoff."""

from __future__ import annotations

import pytest

from changeover.flags.poll import TABLE, Outcome, Poller, PollEvent, PollMode, Request


def _poller(long_poll: bool = True) -> Poller:
    return Poller(poll_interval=15.0, wait=30.0, min_backoff=0.5, long_poll=long_poll)


def test_first_request_asks_to_wait_and_a_change_refetches_at_once() -> None:
    p = _poller()
    assert p.request() == Request(etag=None, wait=30.0)
    assert p.observe(Outcome.CHANGED, 0.01, '"e1"') == 0.0
    assert p.request() == Request('"e1"', 30.0)
    assert p.mode is PollMode.PROBING


def test_a_held_304_confirms_long_poll() -> None:
    p = _poller()
    p.observe(Outcome.CHANGED, 0.01, '"e1"')
    assert p.observe(Outcome.UNCHANGED, 30.0, '"e1"') == 0.0
    assert p.mode is PollMode.LONG_POLL
    assert p.observe(Outcome.CHANGED, 2.0, '"e2"') == 0.0  # changes arrive early: fine
    assert p.request().etag == '"e2"'


def test_a_server_that_answers_wait_at_once_is_polled_on_the_interval() -> None:
    p = _poller()
    p.observe(Outcome.CHANGED, 0.01, '"e1"')
    assert p.observe(Outcome.UNCHANGED, 0.02, '"e1"') == 15.0
    assert p.mode is PollMode.INTERVAL
    assert p.observe(Outcome.CHANGED, 0.02, '"e2"') == 15.0
    assert p.observe(Outcome.UNCHANGED, 29.0, '"e2"') == 0.0  # it learned to hold
    assert p.mode is PollMode.LONG_POLL


def test_a_server_ignoring_if_none_match_cannot_make_the_client_spin() -> None:
    p = _poller()
    for _ in range(5):
        delay = p.observe(Outcome.SAME, 0.01, '"random-each-time"')
    assert delay == 15.0
    assert p.mode is PollMode.INTERVAL


def test_failures_back_off_doubling_up_to_the_interval_and_reset() -> None:
    p = _poller()
    delays = [p.observe(Outcome.FAILED, 0.0) for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    assert p.failures == 8
    p.observe(Outcome.UNCHANGED, 30.0)
    assert p.failures == 0
    assert p.observe(Outcome.FAILED, 0.0) == 0.5


def test_without_long_poll_there_is_no_wait_and_a_fixed_interval() -> None:
    p = _poller(long_poll=False)
    assert p.request() == Request(None, None)
    assert p.observe(Outcome.CHANGED, 0.01, '"e"') == 15.0
    assert p.observe(Outcome.UNCHANGED, 0.01, '"e"') == 15.0
    assert p.mode is PollMode.INTERVAL
    assert p.request() == Request('"e"', None)


# What each answer leads to, whatever the mode: only a change keeps the mode as it is.
AFTER = {
    PollEvent.ETAG_IGNORED: PollMode.INTERVAL,
    PollEvent.HELD: PollMode.LONG_POLL,
    PollEvent.ANSWERED_AT_ONCE: PollMode.INTERVAL,
}


@pytest.mark.parametrize("event", list(PollEvent))
@pytest.mark.parametrize("mode", list(PollMode))
def test_table_answers_every_event_in_every_mode(mode: PollMode, event: PollEvent) -> None:
    assert TABLE.transition(mode, event) is AFTER.get(event, mode)
    assert not TABLE.terminal(mode)


def test_nothing_leads_back_to_probing() -> None:
    assert all(
        PollMode.PROBING not in TABLE.targets(m) for m in PollMode if m is not PollMode.PROBING
    )
    assert repr(PollMode.PROBING) == "<PollMode probing>"
    assert repr(PollEvent.HELD) == "<PollEvent held>"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Poller(poll_interval=0)
