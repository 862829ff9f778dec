"""The public listener passed by the service manager (systemd socket activation), used
instead of one the agent binds: the manager keeps it open while no agent runs, so a
connection that arrives between a crash and the restart waits in its backlog instead of
being refused.

Invariant: a passed socket is used only if `LISTEN_PID` names this process (the protocol,
parsed by `changeover.runtime.activation`) and it is a listening TCP socket; it is chosen
by its name (`FileDescriptorName=public`) or else by its address matching `proxy.listen`,
and exactly one must match: anything else is an `ActivationError` naming the variable
and what was expected, raised before the agent touches any replica.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

from changeover.runtime.activation import ActivationError, ListenFd, listen_fds
from changeover.spec.types import parse_address

__all__ = ["PUBLIC_NAME", "ActivationError", "Passed", "choose", "claim_public"]

log = logging.getLogger("changeover.agent")

PUBLIC_NAME = "public"  # the FileDescriptorName= `changeover systemd` writes


@dataclass(frozen=True)
class Passed:
    """One passed fd as the kernel describes it."""

    fd: int
    name: str
    address: tuple[str, int] | None  # (ip, port) of a listening TCP socket, else None
    problem: str = ""  # why it is not a listening TCP socket

    def describe(self) -> str:
        where = f"on {_show(self.address)}" if self.address else f"({self.problem})"
        return f"fd {self.fd} named {self.name!r} {where}"


@dataclass(frozen=True)
class Choice:
    passed: Passed
    note: str = ""  # something the operator should know (a name that overrides the address)


def choose(passed: Sequence[Passed], listen: str, ips: frozenset[str]) -> Choice:
    """Pure: the one passed socket that is the public listener `listen` (whose host
    resolves to `ips`; port 0 matches any port), or ActivationError saying why none is."""
    named = [p for p in passed if p.name == PUBLIC_NAME]
    if len(named) > 1:
        fds = ", ".join(str(p.fd) for p in named)
        raise ActivationError(
            f"LISTEN_FDNAMES: fds {fds} are all named {PUBLIC_NAME!r}; expected one"
        )
    if named:
        chosen = named[0]
        if chosen.address is None:
            raise ActivationError(
                f"LISTEN_FDNAMES: {chosen.describe()}; expected a listening TCP socket"
            )
        if not _matches(chosen.address, listen, ips):
            note = (
                f"the passed socket named {PUBLIC_NAME!r} listens on {_show(chosen.address)}, "
                f"not on proxy.listen {listen}; serving on it"
            )
            return Choice(chosen, note)
        return Choice(chosen)
    matching = [p for p in passed if p.address is not None and _matches(p.address, listen, ips)]
    if len(matching) == 1:
        return Choice(matching[0])
    described = "; ".join(p.describe() for p in passed)
    if matching:
        raise ActivationError(
            f"LISTEN_FDS: {len(matching)} passed sockets listen on proxy.listen {listen} "
            f"({described}); expected one, or one named {PUBLIC_NAME!r}"
        )
    raise ActivationError(
        f"LISTEN_FDS: no passed socket listens on proxy.listen {listen} ({described}); "
        f"expected a listening TCP socket bound to it, or one named {PUBLIC_NAME!r} "
        f"(FileDescriptorName={PUBLIC_NAME} in the .socket unit)"
    )


def _matches(address: tuple[str, int], listen: str, ips: frozenset[str]) -> bool:
    _, port = parse_address(listen)
    return _normal(address[0]) in ips and (port == 0 or port == address[1])


def _normal(ip: str) -> str:
    return str(ipaddress.ip_address(ip.split("%", 1)[0]))


def _show(address: tuple[str, int] | None) -> str:
    if address is None:
        return "-"
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the thin layer: the environment and the fds ----------------------------------------


def claim_public(
    listen: str, environ: MutableMapping[str, str] | None = None
) -> socket.socket | None:
    """The passed public listener, or None when the manager passed nothing to this
    process (then the agent binds `proxy.listen` itself). The variables are removed from
    the environment either way, so no replica or later agent mistakes them for its own."""
    env = os.environ if environ is None else environ
    _warn_if_meant_for_another(env)
    fds = listen_fds(environ=env)
    if not fds:
        return None
    passed = [_inspect(item) for item in fds]
    choice = choose(passed, listen, _resolve(listen))
    if choice.note:
        log.warning("%s", choice.note)
    for other in passed:
        if other is not choice.passed:
            log.info("socket activation: ignoring %s", other.describe())
    log.info("socket activation: public listener is %s", choice.passed.describe())
    return socket.socket(fileno=choice.passed.fd)


def _warn_if_meant_for_another(env: MutableMapping[str, str]) -> None:
    owner = env.get("LISTEN_PID", "").strip()
    if "LISTEN_FDS" in env and owner.isdigit() and int(owner) != os.getpid():
        log.warning(
            "LISTEN_FDS is set for pid %s, not for this agent (pid %d): binding proxy.listen",
            owner,
            os.getpid(),
        )


def _inspect(item: ListenFd) -> Passed:
    try:
        sock = socket.socket(fileno=item.fd)
    except OSError as exc:
        return Passed(item.fd, item.name, None, f"not a socket: {exc.strerror or exc}")
    try:
        problem = _problem(sock)
        address = None if problem else _address(sock)
    finally:
        sock.detach()  # look, never close: the fd stays the manager's gift
    return Passed(item.fd, item.name, address, problem)


def _address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def _problem(sock: socket.socket) -> str:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return f"a {sock.family.name} socket, not TCP"
    if sock.type != socket.SOCK_STREAM:
        return f"a {sock.type.name} socket, not a stream"
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return "a TCP socket that is not listening"
    return ""


def _resolve(listen: str) -> frozenset[str]:
    host, _ = parse_address(listen)
    try:
        return frozenset({_normal(host)})
    except ValueError:
        pass  # a name, such as "localhost"
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ActivationError(f"proxy.listen: cannot resolve {host!r}: {exc}") from None
    return frozenset(_normal(str(info[4][0])) for info in infos)
