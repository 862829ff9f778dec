"""The exchange's state machine, shown entry by entry: one small byte-level scenario per
kind of path, each asserting the exact states its exchanges went through, and a check
that together they take every move `MOVES` lists. (Every proxy test also checks each
move it makes against `MOVES`: tests/io/proxy/conftest.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from itertools import pairwise

import pytest

from changeover.proxy.config import ProxyConfig
from changeover.proxy.fakes import CheckedExchange
from changeover.proxy.state import MOVES, State
from tests.io.proxy.bytes_kit import Connect, Reply, Rig, Then, get, ok, rig, run, settle

H, Q, C = State.HEAD, State.QUEUED, State.CONNECTING
SEND, WAIT, STREAM = State.SENDING, State.AWAITING, State.STREAMING
UP, UPPED, DONE, ABORTED = State.UPGRADING, State.UPGRADED, State.DONE, State.ABORTED

Scenario = Callable[[Rig], Awaitable[None]]
SLOW = Reply(ok(), after=1.0)
PUT = b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n"


async def pooled_keep_alive(r: Rig) -> None:
    r.replica(ok(), ok())
    client = r.client()
    await r.exchange(client, get())
    await r.exchange(client, get())


async def pipelined_on_the_same_connection(r: Rig) -> None:
    r.replica(SLOW, ok())
    r.client().feed(get() + get())
    await asyncio.sleep(1.0)
    await settle()


async def pipelined_after_a_connection_closed(r: Rig) -> None:
    r.replica(Reply(ok(b"bye", b"Connection: close"), Then.CLOSE, after=1.0), ok())
    r.client().feed(get() + get())
    await asyncio.sleep(1.0)
    await settle()


async def pipelined_upload_still_arriving(r: Rig) -> None:
    r.replica(SLOW, ok())
    client = r.client()
    client.feed(get() + PUT + b"ab")
    await asyncio.sleep(1.0)
    client.feed(b"cd")
    await settle()


async def pipelined_malformed(r: Rig) -> None:
    r.replica(SLOW)
    r.client().feed(get() + b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    await asyncio.sleep(1.0)
    await settle()


async def no_replica(r: Rig) -> None:
    r.replica(routable=False)
    await r.exchange(r.client(), get())


async def refused_then_retried(r: Rig) -> None:
    r.replica(connect=Connect.REFUSE, name="r1-1", routable=False)
    r.replica(ok(), name="r1-2", routable=False)
    r.proxy.set_routable("r1-1", True)  # the only choice: the retry is the other one
    client = r.client()
    client.feed(get())
    r.proxy.set_routable("r1-2", True)
    await settle()


async def refused_everywhere(r: Rig) -> None:
    r.replica(connect=Connect.REFUSE)
    await r.exchange(r.client(), get())


async def client_leaves_while_connecting(r: Rig) -> None:
    r.replica(connect=Connect.HANG)
    client = r.client()
    await r.exchange(client, get())
    client.reset()
    await settle()


async def upload_in_pieces(r: Rig) -> None:
    r.replica(ok())
    client = r.client()
    await r.exchange(client, PUT + b"ab")
    await r.exchange(client, b"cd")


async def answered_before_the_upload_ends(r: Rig) -> None:
    r.replica(Reply(ok(b"too big"), early=True))
    await r.exchange(r.client(), PUT + b"ab")


async def upstream_resets_during_the_upload(r: Rig) -> None:
    r.replica(Reply(then=Then.RESET, early=True))
    await r.exchange(r.client(), PUT + b"ab")


async def client_leaves_during_the_upload(r: Rig) -> None:
    r.replica(ok())
    client = r.client()
    await r.exchange(client, PUT + b"ab")
    client.reset()
    await settle()


async def client_leaves_while_awaiting(r: Rig) -> None:
    r.replica(Reply())
    client = r.client()
    await r.exchange(client, get())
    client.reset()
    await settle()


async def response_too_late(r: Rig) -> None:
    r.replica(Reply())
    r.client().feed(get())
    await asyncio.sleep(r.proxy.config.response_timeout + 1.0)


async def response_cut_short(r: Rig) -> None:
    r.replica(Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", Then.RESET))
    await r.exchange(r.client(), get())


async def upgraded(r: Rig) -> None:
    r.replica(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n")
    await r.exchange(
        r.client(), b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n"
    )


async def refused_head(r: Rig) -> None:
    r.replica(ok())
    await r.exchange(r.client(), b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")


DONE_FIRST = [H, C, WAIT, STREAM, DONE]
SCENARIOS: dict[Scenario, list[list[State]]] = {
    pooled_keep_alive: [DONE_FIRST, [H, SEND, WAIT, STREAM, DONE]],
    pipelined_on_the_same_connection: [DONE_FIRST, [H, Q, WAIT, STREAM, DONE]],
    pipelined_after_a_connection_closed: [DONE_FIRST, [H, Q, C, WAIT, STREAM, DONE]],
    pipelined_upload_still_arriving: [DONE_FIRST, [H, Q, SEND, WAIT, STREAM, DONE]],
    pipelined_malformed: [DONE_FIRST, [H, Q, DONE]],
    no_replica: [[H, DONE]],
    refused_then_retried: [[H, C, C, WAIT, STREAM, DONE]],
    refused_everywhere: [[H, C, DONE]],
    client_leaves_while_connecting: [[H, C, ABORTED]],
    upload_in_pieces: [[H, C, SEND, WAIT, STREAM, DONE]],
    answered_before_the_upload_ends: [[H, C, SEND, STREAM, DONE]],
    upstream_resets_during_the_upload: [[H, C, SEND, DONE]],
    client_leaves_during_the_upload: [[H, C, SEND, ABORTED]],
    client_leaves_while_awaiting: [[H, C, WAIT, ABORTED]],
    response_too_late: [[H, C, WAIT, DONE]],
    response_cut_short: [[H, C, WAIT, STREAM, ABORTED]],
    upgraded: [[H, C, WAIT, UP, UPPED]],
    refused_head: [[H, DONE]],
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_each_scenario_takes_exactly_its_path(scenario: Scenario) -> None:
    async def main() -> list[list[State]]:
        async with rig(ProxyConfig(response_timeout=5.0)) as r:
            await scenario(r)
            return [list(ex.path) for ex in CheckedExchange.made]

    assert run(main) == SCENARIOS[scenario]


def test_the_scenarios_take_every_move_in_the_table() -> None:
    taken = {move for paths in SCENARIOS.values() for p in paths for move in pairwise(p)}
    listed = {(state, target) for state in MOVES.states for target in MOVES.targets(state)}
    assert listed - taken == set()
    assert taken - listed == set()  # and the scenarios' expectations are legal moves


def test_finished_states_are_final_and_sort_after_every_live_one() -> None:
    finished = {DONE, UPPED, ABORTED}
    assert {s for s in State if MOVES.terminal(s)} == finished
    assert all(s < DONE for s in set(State) - finished)
    assert all(s >= DONE for s in finished)


def test_every_live_state_can_still_finish() -> None:
    for state in State:
        reach, todo = {state}, [state]
        while todo:
            for target in MOVES.targets(todo.pop()):
                if target not in reach:
                    reach.add(target)
                    todo.append(target)
        assert reach & {DONE, UPPED, ABORTED}, state
