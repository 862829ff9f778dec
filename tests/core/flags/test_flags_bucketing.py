"""Bucketing: Unleash's normalisation, rollout proportions, stickiness when a rollout grows."""

from __future__ import annotations

from collections import Counter
from typing import Any

import mmh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.flags import FixedEffects, parse_state
from changeover.flags.bucket import VARIANT_SEED, normalized

USERS = [f"user-{i}" for i in range(10_000)]
FX = FixedEffects()


def _rollout(percent: int) -> dict[str, Any]:
    strategy = {
        "name": "flexibleRollout",
        "parameters": {"rollout": str(percent), "stickiness": "userId", "groupId": "checkout"},
    }
    return {
        "version": 2,
        "features": [{"name": "checkout", "enabled": True, "strategies": [strategy]}],
    }


def _enabled_users(percent: int) -> set[str]:
    state = parse_state(_rollout(percent))
    return {u for u in USERS if state.is_enabled("checkout", {"userId": u}, FX)}


def test_normalisation_matches_unleash_reference_values() -> None:
    # Values the client specification pins (files 03, 10, 08): bucket of groupId:id.
    assert normalized("174", "Feature.flexibleRollout.10") == 10
    assert normalized("499", "Feature.flexibleRollout.10") == 32
    assert normalized("122", "AB12A") == 23
    assert normalized("232", "Feature.Variants.C", 99, VARIANT_SEED) == 18


@pytest.mark.parametrize(
    ("text", "seed", "expected"),
    [  # published MurmurHash3 x86_32 test vectors
        ("", 0, 0),
        ("", 1, 0x514E28B7),
        ("", 0xFFFFFFFF, 0x81F16F39),
        ("aaaa", 0x9747B28C, 0x5A97808A),
        ("Hello, world!", 0x9747B28C, 0x24884CBA),
        ("The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
    ],
)
def test_murmur3_is_x86_32_unsigned(text: str, seed: int, expected: int) -> None:
    assert mmh3.hash(text, seed, signed=False) == expected


def test_identifiers_hash_as_utf8_bytes() -> None:
    assert mmh3.hash("g:ø", 0, signed=False) == mmh3.hash(b"g:\xc3\xb8", 0, signed=False)
    assert normalized("ø", "g") == mmh3.hash(b"g:\xc3\xb8", 0, signed=False) % 100 + 1


def test_ten_percent_of_ten_thousand_users_is_within_one_and_a_half_points() -> None:
    share = len(_enabled_users(10)) / len(USERS)
    assert 0.085 <= share <= 0.115, share


def test_raising_the_rollout_keeps_everyone_already_in() -> None:
    at_10, at_50 = _enabled_users(10), _enabled_users(50)
    assert at_10 <= at_50
    assert 0.485 <= len(at_50) / len(USERS) <= 0.515
    assert at_50 <= _enabled_users(100) == set(USERS)
    assert _enabled_users(0) == set()


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=12), st.integers(0, 100), st.integers(0, 100))
def test_a_user_in_at_a_percentage_stays_in_at_every_larger_one(
    user: str, low: int, high: int
) -> None:
    low, high = min(low, high), max(low, high)
    bucket = normalized(user, "checkout")
    assert 1 <= bucket <= 100
    small, large = parse_state(_rollout(low)), parse_state(_rollout(high))
    on_small = small.is_enabled("checkout", {"userId": user}, FX)
    assert on_small is (bucket <= low)
    if on_small:
        assert large.is_enabled("checkout", {"userId": user}, FX)


def test_variants_split_by_weight_and_stick_per_user() -> None:
    doc = {
        "version": 2,
        "features": [
            {
                "name": "color",
                "enabled": True,
                "variants": [
                    {"name": "red", "weight": 200, "payload": {"type": "string", "value": "r"}},
                    {"name": "blue", "weight": 800},
                ],
            }
        ],
    }
    state = parse_state(doc)
    picks = Counter(state.variant("color", {"userId": u}, FX).name for u in USERS)
    assert 0.185 <= picks["red"] / len(USERS) <= 0.215
    assert picks["red"] + picks["blue"] == len(USERS)
    first = [state.variant("color", {"userId": u}, FX).name for u in USERS[:200]]
    again = [state.variant("color", {"userId": u}, FX).name for u in USERS[:200]]
    assert first == again


def test_variant_buckets_do_not_follow_the_rollout_bucket() -> None:
    # The variant seed differs, so users of the first 10% are not all in the first variant.
    state = parse_state(_rollout(10))
    early = [u for u in USERS if state.is_enabled("checkout", {"userId": u}, FX)]
    variant_buckets = {normalized(u, "checkout", 2, VARIANT_SEED) for u in early}
    assert variant_buckets == {1, 2}
