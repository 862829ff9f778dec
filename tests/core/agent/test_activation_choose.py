"""Which passed socket is the public listener: by FileDescriptorName, else by address;
anything else is bad input naming the variable and what was expected (pure)."""

from __future__ import annotations

import pytest

from changeover.agent.activation import PUBLIC_NAME, Passed, choose
from changeover.runtime.activation import ActivationError

LOOPBACK = frozenset({"127.0.0.1"})


def tcp(fd: int, port: int, name: str = "unknown", host: str = "127.0.0.1") -> Passed:
    return Passed(fd, name, (host, port))


def test_matched_by_address_when_nothing_is_named() -> None:
    passed = [tcp(3, 9000), tcp(4, 8080), tcp(5, 8081)]
    assert choose(passed, "127.0.0.1:8080", LOOPBACK).passed.fd == 4


def test_the_name_wins_over_the_address() -> None:
    passed = [tcp(3, 8080), tcp(4, 8080, name=PUBLIC_NAME)]
    choice = choose(passed, "127.0.0.1:8080", LOOPBACK)
    assert choice.passed.fd == 4
    assert choice.note == ""


def test_a_named_socket_elsewhere_serves_but_says_so() -> None:
    choice = choose([tcp(3, 9090, name=PUBLIC_NAME)], "127.0.0.1:8080", LOOPBACK)
    assert choice.passed.fd == 3
    assert "listens on 127.0.0.1:9090, not on proxy.listen 127.0.0.1:8080" in choice.note


def test_port_0_in_the_spec_matches_any_port_of_the_host() -> None:
    passed = [tcp(3, 8080, host="10.0.0.1"), tcp(4, 43210)]
    assert choose(passed, "127.0.0.1:0", LOOPBACK).passed.fd == 4


def test_ipv6_and_wildcard_addresses_compare_as_addresses() -> None:
    passed = [tcp(3, 8080, host="::"), tcp(4, 8080, host="0.0.0.0")]
    assert choose(passed, "[::]:8080", frozenset({"::"})).passed.fd == 3
    assert choose(passed, "0.0.0.0:8080", frozenset({"0.0.0.0"})).passed.fd == 4


def test_a_name_the_host_resolves_to_matches_each_of_its_addresses() -> None:
    choice = choose([tcp(3, 8080, host="::1")], "localhost:8080", frozenset({"127.0.0.1", "::1"}))
    assert choice.passed.fd == 3


@pytest.mark.parametrize(
    ("passed", "listen", "message"),
    [
        (
            [tcp(3, 9000)],
            "127.0.0.1:8080",
            "LISTEN_FDS: no passed socket listens on proxy.listen 127.0.0.1:8080 "
            "(fd 3 named 'unknown' on 127.0.0.1:9000); expected a listening TCP socket "
            "bound to it, or one named 'public' (FileDescriptorName=public in the .socket unit)",
        ),
        (
            [Passed(3, "unknown", None, "a TCP socket that is not listening")],
            "127.0.0.1:8080",
            "(fd 3 named 'unknown' (a TCP socket that is not listening))",
        ),
        (
            [tcp(3, 8080), tcp(4, 8080)],
            "127.0.0.1:8080",
            "LISTEN_FDS: 2 passed sockets listen on proxy.listen 127.0.0.1:8080",
        ),
        (
            [tcp(3, 8080, name=PUBLIC_NAME), tcp(4, 8081, name=PUBLIC_NAME)],
            "127.0.0.1:8080",
            "LISTEN_FDNAMES: fds 3, 4 are all named 'public'; expected one",
        ),
        (
            [Passed(3, PUBLIC_NAME, None, "a SOCK_DGRAM socket, not a stream")],
            "127.0.0.1:8080",
            "LISTEN_FDNAMES: fd 3 named 'public' (a SOCK_DGRAM socket, not a stream); "
            "expected a listening TCP socket",
        ),
    ],
)
def test_no_single_match_is_bad_input_naming_the_variable(
    passed: list[Passed], listen: str, message: str
) -> None:
    with pytest.raises(ActivationError) as caught:
        choose(passed, listen, LOOPBACK)
    assert message in str(caught.value)
