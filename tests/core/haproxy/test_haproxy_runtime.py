"""The runtime API without IO: commands as bytes, and answers judged from the bytes that
HAProxy 2.6.12 (Debian 12) really sent (recorded; tests/io/haproxy checks them live)."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.haproxy import runtime
from changeover.haproxy.runtime import RuntimeApiError

DATA = Path(__file__).resolve().parents[2] / "data" / "haproxy"


def test_commands_are_one_line_each() -> None:
    add = runtime.add_server("replicas", "r3-1", "127.0.0.1", 40001, 230, "pool-purge-delay 1000ms")
    assert add.line() == (
        b"add server replicas/r3-1 127.0.0.1:40001 weight 230 pool-purge-delay 1000ms\n"
    )
    assert runtime.add_server("b", "s", "::1", 8080, 1).line() == (
        b"add server b/s [::1]:8080 weight 1\n"
    )
    assert runtime.set_state("replicas", "r3-1", "drain").line() == (
        b"set server replicas/r3-1 state drain\n"
    )
    assert runtime.set_weight("replicas", "r3-1", 0).line() == (
        b"set server replicas/r3-1 weight 0\n"
    )
    assert runtime.set_addr("replicas", "r3-1", "127.0.0.1", 40002).line() == (
        b"set server replicas/r3-1 addr 127.0.0.1 port 40002\n"
    )
    assert runtime.del_server("replicas", "r3-1").line() == b"del server replicas/r3-1\n"
    assert runtime.show_stat("replicas").line() == b"show stat replicas -1 -1\n"
    assert runtime.show_stat().line() == b"show stat\n"
    assert runtime.show_info().line() == b"show info\n"


@pytest.mark.parametrize(
    "name",
    ["r1;shutdown sessions server x/y", "r1 weight", "r1\nshow info", "r1\\", "", "x" * 65],
)
def test_no_value_can_smuggle_a_second_command(name: str) -> None:
    with pytest.raises(ValueError, match="server must be 1-64 of"):
        runtime.set_state("replicas", name, "maint")
    with pytest.raises(ValueError, match="backend must be 1-64 of"):
        runtime.del_server(name, "r1")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: runtime.set_weight("b", "s", 257), "weight must be an integer 0-256"),
        (lambda: runtime.set_weight("b", "s", True), "weight must be an integer 0-256"),
        (lambda: runtime.set_state("b", "s", "up"), "state must be one of ready, drain, maint"),
        (lambda: runtime.add_server("b", "s", "localhost", 1, 1), "IPv4 or IPv6"),
        (lambda: runtime.add_server("b", "s", "127.0.0.1", 70000, 1), "port must be 1-65535"),
        (lambda: runtime.add_server("b", "s", "127.0.0.1", 1, 1, "a;b"), "server option"),
    ],
)
def test_values_haproxy_would_refuse_are_refused_before_sending(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


# (command, answer HAProxy 2.6 gave, success?)
ANSWERS = [
    (runtime.add_server("app", "r1-1", "127.0.0.1", 9001, 10), b"New server registered.\n\n", True),
    (
        runtime.add_server("app", "r1-1", "127.0.0.1", 9001, 10),
        b"Already exists a server with the same name in backend.\n\n",
        False,
    ),
    (runtime.set_state("app", "r1-1", "ready"), b"\n", True),
    (runtime.set_state("app", "nope", "drain"), b"No such server.\n\n", False),
    (runtime.set_weight("app", "r1-1", 20), b"\n", True),
    # 2.6 ends del server's answer without the empty line the other answers end with
    (runtime.del_server("app", "r1-1"), b"Server deleted.\n", True),
    (runtime.del_server("app", "r1-1"), b"No such server.\n", False),
    (
        runtime.del_server("app", "r1-1"),
        b"Server still has connections attached to it, cannot remove it.\n",
        False,
    ),
    (
        runtime.set_addr("app", "a", "127.0.0.1", 9002),
        b"no need to change the addr, port changed from '9001' to '9002' by 'stats socket "
        b"command'\n\n",
        True,
    ),
    (
        runtime.set_addr("app", "a", "127.0.0.1", 9002),
        b"no need to change the addr, no need to change the port by 'stats socket command'\n\n",
        True,
    ),
    (runtime.set_addr("app", "a", "127.0.0.1", 9002), b"No such server.\n\n", False),
    (runtime.show_stat("app"), b"Unknown command\n\n", False),
]


@pytest.mark.parametrize(("command", "answer", "ok"), ANSWERS)
def test_answers_are_judged_by_their_command(
    command: runtime.Command, answer: bytes, ok: bool
) -> None:
    if ok:
        assert command.check(answer) == answer.decode()
        return
    with pytest.raises(RuntimeApiError) as raised:
        command.check(answer)
    first = answer.decode().strip().splitlines()[0]
    assert str(raised.value) == f"haproxy refused `{command.text}`: {first}"
    assert raised.value.answer == answer.decode()


def test_an_empty_answer_to_a_command_that_must_say_something_is_a_refusal() -> None:
    with pytest.raises(RuntimeApiError, match=r"\(no answer\)"):
        runtime.del_server("app", "r1").check(b"")


def test_show_stat_rows_are_read_by_their_header() -> None:
    answer = runtime.show_stat("replicas").check((DATA / "show_stat_replicas.csv").read_bytes())
    rows = runtime.stat_rows(answer)
    assert [(r.proxy, r.name, r.kind) for r in rows] == [
        ("replicas", "r3-1", "server"),
        ("replicas", "r4-1", "server"),
        ("replicas", "BACKEND", "backend"),
    ]
    first, second, backend = rows
    assert (first.number("hrsp_2xx"), second.number("hrsp_2xx"), backend.number("hrsp_2xx")) == (
        36,
        4,
        40,
    )
    assert (first.number("weight"), second.number("weight")) == (230, 26)
    assert second.text("status") == "DRAIN"
    assert first.text("addr") == "127.0.0.1:9111"
    assert first.number("scur") == 0
    assert first.number("qlimit") == 0  # an empty column where it does not apply
    assert [r.name for r in runtime.servers(rows, "replicas")] == ["r3-1", "r4-1"]


@pytest.mark.parametrize("cut", [-1, -2, -40, -200])
def test_a_show_stat_answer_cut_short_is_refused_not_read_as_fewer_rows(cut: int) -> None:
    """A worker dying while it writes the table closes the connection mid-answer: what
    came would read as a server gone, or as counters gone down (a row cut in two)."""
    whole = (DATA / "show_stat_replicas.csv").read_bytes()
    with pytest.raises(RuntimeApiError):
        runtime.show_stat("replicas").check(whole[:cut])


def test_quoted_csv_fields_keep_their_commas() -> None:
    answer = '# pxname,svname,last_chk,type,scur,\nb,s,"Layer7 wrong status, 503",2,3,\n'
    (row,) = runtime.stat_rows(answer)
    assert row.text("last_chk") == "Layer7 wrong status, 503"
    assert (row.kind, row.number("scur")) == ("server", 3)


def test_show_stat_without_its_header_is_not_guessed_at() -> None:
    with pytest.raises(ValueError, match="header line"):
        runtime.stat_rows("b,s,1,2\n")


def test_show_info_is_read_as_name_value_pairs() -> None:
    answer = runtime.show_info().check((DATA / "show_info.txt").read_bytes())
    info = runtime.info_fields(answer)
    assert info["Version"] == "2.6.12-1+deb12u4"
    assert info["Nbthread"] == "2"
