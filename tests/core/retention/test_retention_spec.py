"""The `[logs]` and `[events]` spec keys: defaults, sizes with units, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.spec.load import SpecError, load_spec_data, load_spec_text
from changeover.spec.models import SIZE_HINT, parse_size

BASE = '[app]\nname = "a"\ncommand = "x"\n'


def problems(extra: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec_text(BASE + extra, "svc.toml")
    return info.value.lines()


def test_defaults() -> None:
    spec = load_spec_text(BASE, "svc.toml")
    assert spec.logs.max_size == 10 * 1024 * 1024
    assert spec.logs.keep == 3
    assert spec.logs.retain_stopped == 7 * 86400
    assert spec.events.keep == 100_000


def test_keys_are_read_and_survive_a_snapshot_round_trip() -> None:
    spec = load_spec_text(
        BASE + '[logs]\nmax_size = "512KB"\nkeep = 0\nretain_stopped = "36h"\n'
        "[events]\nkeep = 500\n",
        "svc.toml",
    )
    assert (spec.logs.max_size, spec.logs.keep, spec.logs.retain_stopped) == (524288, 0, 129600)
    assert spec.events.keep == 500
    dumped = spec.model_dump(mode="json")
    assert dumped["logs"] == {"max_size": 524288, "keep": 0, "retain_stopped": "36h"}
    assert load_spec_data(dumped, "snapshot") == spec


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1", 1),
        (" 4096 ", 4096),
        ("10B", 10),
        ("1KB", 1024),
        ("10MB", 10 * 1024**2),
        ("10 mb", 10 * 1024**2),
        ("1.5KB", 1536),
        ("2GB", 2 * 1024**3),
    ],
)
def test_sizes_with_units(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_sizes_as_numbers() -> None:
    assert load_spec_text(BASE + "[logs]\nmax_size = 2048\n", "s").logs.max_size == 2048


@pytest.mark.parametrize("raw", ["10M", "ten", "10 TB", "-1MB", "1e6", "", "MB", "1.5.2KB"])
def test_bad_sizes_say_what_is_expected(raw: str) -> None:
    assert problems(f'[logs]\nmax_size = "{raw}"\n') == [
        f"svc.toml: logs.max_size: expected {SIZE_HINT}, got {raw!r}"
    ]


@pytest.mark.parametrize("raw", ["0", "-5", '"0KB"', '"0.1B"'])
def test_sizes_below_one_byte_are_refused(raw: str) -> None:
    (line,) = problems(f"[logs]\nmax_size = {raw}\n")
    assert line.startswith("svc.toml: logs.max_size: expected a size of at least 1 byte, got")


@pytest.mark.parametrize("raw", ["true", "1.5", "[1]"])
def test_sizes_of_other_types_are_refused(raw: str) -> None:
    (line,) = problems(f"[logs]\nmax_size = {raw}\n")
    assert line.startswith(f"svc.toml: logs.max_size: expected {SIZE_HINT}, got")


def test_every_bad_key_is_reported_with_its_path() -> None:
    lines = problems(
        '[logs]\nkeep = -1\nretain_stopped = "7 days"\nrotate = 1\n[events]\nkeep = 0\n'
    )
    assert lines[0] == "svc.toml: logs.keep: input should be greater than or equal to 0"
    assert lines[1].startswith("svc.toml: logs.retain_stopped: expected a duration with a unit")
    assert lines[2] == (
        "svc.toml: logs.rotate: unknown key; expected one of: max_size, keep, retain_stopped"
    )
    assert lines[3] == "svc.toml: events.keep: input should be greater than or equal to 1"


@given(st.integers(1, 2**40))
def test_every_byte_count_round_trips(size: int) -> None:
    assert parse_size(size) == size
    assert parse_size(str(size)) == size


@given(st.integers(1, 10_000), st.sampled_from(["B", "KB", "MB", "GB", "kb", "Mb"]))
def test_whole_units_multiply_exactly(count: int, unit: str) -> None:
    factor = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[unit.upper()]
    assert parse_size(f"{count}{unit}") == count * factor


@given(st.text(max_size=12))
def test_any_text_parses_or_raises_a_value_error_naming_it(text: str) -> None:
    try:
        size = parse_size(text)
    except ValueError as exc:
        message = str(exc)
    else:
        assert size >= 1
        return
    assert repr(text) in message
