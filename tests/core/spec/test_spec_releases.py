"""`[releases]`: the release train's keys, their errors with the key's path, the JSON
round trip of a revision snapshot, and the values the train functions take."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.models import Spec
from changeover.versioning.train import Train, next_cutoff

APP = '[app]\nname = "a"\ncommand = "x"\n'


def releases(train: str) -> str:
    return f"{APP}[releases]\ntrain = {train}\n"


def test_no_train_by_default() -> None:
    assert load_spec_text(APP, "svc.toml").releases.train is None


@pytest.mark.parametrize(
    "first",
    ['"2026-01-05T10:00:00+01:00"', "2026-01-05T10:00:00+01:00", '"2026-01-05T09:00:00Z"'],
)
def test_a_train_with_text_or_toml_datetimes(first: str) -> None:
    spec = load_spec_text(releases(f'{{ every = "2w", first = {first} }}'), "svc.toml")
    train = spec.releases.train
    assert train is not None
    assert train.every == 14 * 86400
    assert train.first == datetime(2026, 1, 5, 10, tzinfo=timezone(timedelta(hours=1)))
    # what `changeover.versioning.train` takes, as the CLI will build it
    schedule = Train.of(train.every, train.first)
    assert next_cutoff(schedule, train.first) == train.first + timedelta(weeks=2)


def test_the_spec_round_trips_through_json() -> None:
    spec = load_spec_text(
        releases('{ every = "1w2d", first = "2026-01-05T10:00:00+01:00" }'), "svc.toml"
    )
    assert spec.model_dump(mode="json")["releases"] == {
        "train": {"every": "9d", "first": "2026-01-05T10:00:00+01:00"},
        "keep": 10,
    }
    assert Spec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("train", "problem"),
    [
        (
            '{ every = "2w", first = "2026-01-05T10:00:00" }',
            "releases.train.first: expected a date and time with a UTC offset, like "
            '"2026-01-05T10:00:00+01:00"; 2026-01-05T10:00:00 has no offset',
        ),
        (
            '{ every = "2w", first = 2026-01-05T10:00:00 }',
            "releases.train.first: expected a date and time with a UTC offset",
        ),
        (
            '{ every = "2w", first = 2026-01-05 }',
            "releases.train.first: expected a date and time with a UTC offset, like "
            '"2026-01-05T10:00:00+01:00", got the date 2026-01-05 without a time',
        ),
        ('{ every = "2w", first = "monday" }', "releases.train.first: expected a date and"),
        ('{ every = "0s", first = "2026-01-05T10:00:00Z" }', "releases.train.every: must be"),
        ('{ every = 14, first = "2026-01-05T10:00:00Z" }', "releases.train.every: expected a"),
        ('{ every = "2 weeks", first = "2026-01-05T10:00:00Z" }', "releases.train.every: exp"),
        ('{ every = "2w" }', "releases.train.first: required key is missing"),
        (
            '{ every = "2w", first = "2026-01-05T10:00:00Z", at = 1 }',
            "releases.train.at: unknown key; expected one of: every, first",
        ),
    ],
)
def test_errors_name_the_key_path(train: str, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec_text(releases(train), "svc.toml")
    assert any(line.startswith(f"svc.toml: {problem}") for line in caught.value.lines()), (
        caught.value.lines()
    )


def test_an_unknown_key_of_the_section_is_named() -> None:
    with pytest.raises(SpecError, match=r"svc.toml: releases.cadence: unknown key; expected one"):
        load_spec_text(f"{APP}[releases]\ncadence = 3\n", "svc.toml")


@pytest.mark.parametrize(
    ("keep", "problem"),
    [
        ("0", "releases.keep: input should be greater than or equal to 1"),
        ('"5"', "releases.keep: input should be a valid integer"),
        ("2.0", "releases.keep: input should be a valid integer"),
    ],
)
def test_keep_is_a_whole_number_of_releases(keep: str, problem: str) -> None:
    assert load_spec_text(f"{APP}[releases]\nkeep = 3\n", "svc.toml").releases.keep == 3
    with pytest.raises(SpecError) as error:
        load_spec_text(f"{APP}[releases]\nkeep = {keep}\n", "svc.toml")
    assert problem in str(error.value)
