"""The states of one proxy exchange and the moves between them (`MOVES`).

Invariant: an exchange is in exactly one `State`, and every change of it is an entry of
`MOVES`; the three finished states (DONE, UPGRADED, ABORTED) are final and sort after
every live one, so `state >= DONE` is "finished". The tests run every proxy test with each
move checked against `MOVES` (`proxy.fakes.CheckedExchange`).

    HEAD        -> QUEUED, CONNECTING, SENDING (on a pooled connection)
    QUEUED      -> CONNECTING, SENDING, AWAITING (its request had already ended)
    CONNECTING  -> CONNECTING (a retry), SENDING, AWAITING
    SENDING     -> AWAITING, STREAMING (the app answered before reading it all)
    AWAITING    -> STREAMING, UPGRADING (a 101) -> UPGRADED
    STREAMING   -> DONE
    Until the response head the proxy may answer itself (400/502/503/504: DONE); from
    CONNECTING on, a client that leaves or a response cut short ends it in ABORTED. An
    interim response (a 1xx other than 101) moves nothing.

The hot path stores the target state itself instead of asking `MOVES.transition`: a
lookup there costs ~1,950 instructions per move (a Python call and two mapping lookups;
~2,850 with plain-Enum events, whose hash is Python code) against ~85 for the store,
and a request makes four or five moves, so checking in production would add 7-13% to
the ~109k instructions per request that bench/proxy_hotpath.py counts (figures:
docs/benchmarks.md, "One owner for the exchange"). What the check would catch, a move
the table does not list, the tests catch instead.

A leaf of the proxy package: the standard library and `changeover.machine` only.
"""

from __future__ import annotations

import enum

from changeover.machine import Table


class State(enum.IntEnum):
    """Where an exchange is. An IntEnum: compared by identity or order at C speed."""

    HEAD = 0  # its request head is being parsed
    QUEUED = 1  # head complete; waits behind the exchange its connection is answering
    CONNECTING = 2  # counted on an endpoint; a new upstream connection is being opened
    SENDING = 3  # on an upstream connection; the request body is still arriving
    AWAITING = 4  # the request is wholly forwarded; waiting for the response head
    STREAMING = 5  # the response head is relayed; its body flows to the client
    UPGRADING = 6  # the upstream said 101; the tunnel is spliced within the same read
    DONE = 7  # finished: a complete response was sent (relayed, or a canned error)
    UPGRADED = 8  # finished: the 101 was relayed, client and upstream spliced
    ABORTED = 9  # finished without a complete response (client gone, response cut off)


class Event(enum.Enum):
    """What moves an exchange; the value is how a refusal message names it."""

    QUEUE = "queue"  # its head completed while another exchange holds the connection
    CONNECT = "connect"  # assigned to an endpoint with no idle connection (or retried)
    ATTACH = "attach"  # bound to an upstream connection while its body still arrives
    ATTACH_ENDED = "attach after the request ended"
    REQUEST_END = "request end"  # the client's request ended, all of it forwarded
    RESPONSE_HEAD = "response head"  # a final response head relayed
    SWITCH = "switch protocols"  # the upstream answered 101
    SPLICE = "splice"  # the 101 relayed and both connections spliced into a tunnel
    REPLY = "reply"  # the proxy answered a canned error itself
    COMPLETE = "complete"  # the response was relayed to its end
    ABORT = "abort"  # the client went away, or the response was cut off


S, E = State, Event
MOVES: Table[State, Event] = Table(
    "proxy exchange",
    State,
    {
        S.HEAD: {E.QUEUE: S.QUEUED, E.CONNECT: S.CONNECTING, E.ATTACH: S.SENDING, E.REPLY: S.DONE},
        S.QUEUED: {
            E.CONNECT: S.CONNECTING,
            E.ATTACH: S.SENDING,
            E.ATTACH_ENDED: S.AWAITING,
            E.REPLY: S.DONE,
        },
        S.CONNECTING: {
            E.CONNECT: S.CONNECTING,
            E.ATTACH: S.SENDING,
            E.ATTACH_ENDED: S.AWAITING,
            E.REPLY: S.DONE,
            E.ABORT: S.ABORTED,
        },
        S.SENDING: {
            E.REQUEST_END: S.AWAITING,
            E.RESPONSE_HEAD: S.STREAMING,
            E.REPLY: S.DONE,
            E.ABORT: S.ABORTED,
        },
        S.AWAITING: {
            E.RESPONSE_HEAD: S.STREAMING,
            E.SWITCH: S.UPGRADING,
            E.REPLY: S.DONE,
            E.ABORT: S.ABORTED,
        },
        S.STREAMING: {E.COMPLETE: S.DONE, E.ABORT: S.ABORTED},
        S.UPGRADING: {E.SPLICE: S.UPGRADED},  # within one read of the upstream
        S.DONE: {},
        S.UPGRADED: {},
        S.ABORTED: {},
    },
)
del S, E
