"""Annotated field types shared by the spec models.

Invariant: each type validates its raw TOML value and serialises back to a value the
same validator accepts, so specs survive a JSON round trip through the store.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import signal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from changeover.networks import parse_network
from changeover.units import DURATION_HINT, Quantity, format_duration, parse_duration
from changeover.units import parse_quantity as _parse_quantity

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class StrictModel(BaseModel):
    """Every spec table: unknown keys are errors, values never change once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(raw: Any) -> float:
    if isinstance(raw, str):
        return parse_duration(raw)
    raise ValueError(f"expected {DURATION_HINT}, got {raw!r}")


def _signal_name(raw: Any) -> str:
    name = str(raw).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    if not isinstance(raw, str) or name not in signal.Signals.__members__:
        raise ValueError(f'expected a signal name like "SIGTERM" or "SIGINT", got {raw!r}')
    return name


def _command(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected a command line string, got {raw!r}")
    try:
        argv = shlex.split(raw)
    except ValueError as exc:
        raise ValueError(f"cannot split command line {raw!r}: {exc}") from None
    if not argv:
        raise ValueError("expected a command, got an empty string")
    return raw


def parse_address(raw: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6]:port"; ValueError otherwise."""
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([^:\[\]\s]+):(\d+)", raw.strip())
    if not m:
        raise ValueError(f'expected "host:port" such as "127.0.0.1:8080", got {raw!r}')
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if port > 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    if m.group(1):
        ipaddress.IPv6Address(host)
    return host, port


def _address(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f'expected "host:port" such as "127.0.0.1:8080", got {raw!r}')
    parse_address(raw)
    return raw.strip()


def _network(raw: Any) -> str:
    # kept as written (stripped): the agent parses it again for its engine
    parse_network(raw)
    assert isinstance(raw, str)  # parse_network refused anything else
    return raw.strip()


Duration = Annotated[float, BeforeValidator(_duration), PlainSerializer(format_duration)]
QuantityField = Annotated[
    Quantity,
    BeforeValidator(lambda raw: raw if isinstance(raw, Quantity) else _parse_quantity(raw)),
    PlainSerializer(lambda q: f"{q.value}%" if q.percent else q.value),
]
SignalName = Annotated[str, BeforeValidator(_signal_name)]
CommandLine = Annotated[str, BeforeValidator(_command)]
Address = Annotated[str, BeforeValidator(_address)]
Network = Annotated[str, BeforeValidator(_network)]  # an IP address or network (`networks`)
