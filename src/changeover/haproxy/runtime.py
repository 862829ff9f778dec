"""HAProxy's runtime API (the stats socket) without IO: commands rendered as bytes,
answers judged and parsed from bytes. Written against HAProxy 2.6 (Debian 12).

Invariant: a rendered command is exactly one line and one command: every name and
address in it is checked against what HAProxy reads as one word (no `;`, which separates
commands, no backslash, space or newline), so no value can smuggle a second command.
An answer is judged by the command that asked for it: the text HAProxy 2.6 gives on
success (`New server registered.`, `Server deleted.`, nothing at all for `set server
... state|weight`) or `RuntimeApiError` carrying the command and HAProxy's own words.

One command per connection (the non-interactive mode): HAProxy answers, then closes. The
mode could pipeline commands separated by `;` with an empty line after each answer, but
2.6's `del server` ends its answer without that empty line, so answers would run together.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # proxy and server names HAProxy accepts
STATES = ("ready", "drain", "maint")
State = Literal["ready", "drain", "maint"]
MAX_WEIGHT = 256  # `set server ... weight` takes 0..256


class RuntimeApiError(Exception):
    """HAProxy refused or did not understand a command: `answer` is what it said."""

    def __init__(self, command: str, answer: str) -> None:
        first = answer.strip().splitlines()[0] if answer.strip() else "(no answer)"
        super().__init__(f"haproxy refused `{command}`: {first}")
        self.command = command
        self.answer = answer


def checked_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"{what} must be 1-64 of A-Z a-z 0-9 _ . : -, got {value!r}")
    return value


def address(host: str, port: int) -> str:
    """`host:port` as `add server` reads it: an IP literal (IPv6 in brackets)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535, got {port!r}")
    ip = ipaddress.ip_address(host)  # ValueError for a name: HAProxy would not resolve it
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


@dataclass(frozen=True)
class Command:
    """One runtime API command and how its answer is judged."""

    text: str
    ok: Callable[[str], bool]  # does this answer mean success?

    def line(self) -> bytes:
        return self.text.encode("ascii") + b"\n"

    def check(self, answer: bytes) -> str:
        """The answer as text if it means success, else RuntimeApiError."""
        text = answer.decode("utf-8", "replace")
        if not self.ok(text):
            raise RuntimeApiError(self.text, text)
        return text


def _silent(text: str) -> bool:
    return text.strip() == ""


def _says(expected: str) -> Callable[[str], bool]:
    return lambda text: text.strip() == expected


def _any(text: str) -> bool:
    return True


def _table(text: str) -> bool:
    # HAProxy ends a whole table with an empty line: an answer without it was cut short
    # (a worker dying while it wrote), and its missing or partial rows would read as
    # counters gone down, or as servers gone
    return text.startswith("# ") and text.endswith("\n\n")


def add_server(
    backend: str, server: str, host: str, port: int, weight: int, *options: str
) -> Command:
    """A dynamic server; HAProxy adds it in maintenance (`set_state(..., "ready")` next).
    `options` are further `server` keywords (`pool-purge-delay 1000ms`), checked to be
    plain words."""
    for option in options:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)?", option):
            raise ValueError(f"server option must be a keyword and a value, got {option!r}")
    words = [_target(backend, server), address(host, port)]
    words += ["weight", str(_weight(weight)), *options]
    return Command("add server " + " ".join(words), _says("New server registered."))


def set_state(backend: str, server: str, state: State) -> Command:
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    return Command(f"set server {_target(backend, server)} state {state}", _silent)


def set_weight(backend: str, server: str, weight: int) -> Command:
    return Command(f"set server {_target(backend, server)} weight {_weight(weight)}", _silent)


def set_addr(backend: str, server: str, host: str, port: int) -> Command:
    """Move a server to another address (its answer says what changed, in prose)."""
    addr = address(host, port)  # validated; `set server addr` takes the parts apart
    ip = addr.rsplit(":", 1)[0].strip("[]")
    return Command(
        f"set server {_target(backend, server)} addr {ip} port {port}",
        lambda text: "by 'stats socket command'" in text,
    )


def del_server(backend: str, server: str) -> Command:
    """Refused by HAProxy unless the server is in maintenance with no connection left."""
    return Command(f"del server {_target(backend, server)}", _says("Server deleted."))


def show_stat(proxy: str | None = None) -> Command:
    """Every statistics row (of one proxy, when named), as CSV: see `stat_rows`."""
    scope = f" {checked_name('proxy', proxy)} -1 -1" if proxy else ""
    return Command(f"show stat{scope}", _table)


def show_info() -> Command:
    return Command("show info", lambda text: "Pid:" in text)


def _target(backend: str, server: str) -> str:
    return f"{checked_name('backend', backend)}/{checked_name('server', server)}"


def _weight(weight: int) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
        raise ValueError(f"weight must be an integer 0-{MAX_WEIGHT}, got {weight!r}")
    return weight


# --- answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class StatRow:
    """One row of `show stat`: a frontend, backend, server or listener, by its columns."""

    fields: dict[str, str]

    @property
    def proxy(self) -> str:
        return self.fields.get("pxname", "")

    @property
    def name(self) -> str:
        """The server's name, or FRONTEND / BACKEND."""
        return self.fields.get("svname", "")

    @property
    def kind(self) -> Literal["frontend", "backend", "server", "listener"]:
        return ("frontend", "backend", "server", "listener")[self.number("type")]

    def number(self, column: str) -> int:
        """A counter or gauge; HAProxy leaves a column empty where it does not apply."""
        value = self.fields.get(column, "")
        return int(value) if value.strip().lstrip("-").isdigit() else 0

    def text(self, column: str) -> str:
        return self.fields.get(column, "")


def stat_rows(answer: str) -> list[StatRow]:
    """Parse `show stat`'s CSV: a `# name,name,...` header, then one row per object;
    the header names the columns (only the first 100 have fixed positions)."""
    lines = answer.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError("show stat: expected a '# pxname,svname,...' header line")
    header = lines[0][2:].rstrip(",").split(",")
    rows = []
    for cells in csv.reader(line for line in lines[1:] if line.strip()):
        rows.append(StatRow(dict(zip(header, cells, strict=False))))
    return rows


def info_fields(answer: str) -> dict[str, str]:
    """`show info`: `Name: value` lines."""
    out = {}
    for line in answer.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def servers(rows: list[StatRow], backend: str) -> Iterator[StatRow]:
    return (row for row in rows if row.proxy == backend and row.kind == "server")


__all__ = [
    "MAX_WEIGHT",
    "STATES",
    "Command",
    "RuntimeApiError",
    "StatRow",
    "State",
    "add_server",
    "address",
    "checked_name",
    "del_server",
    "info_fields",
    "servers",
    "set_addr",
    "set_state",
    "set_weight",
    "show_info",
    "show_stat",
    "stat_rows",
]
