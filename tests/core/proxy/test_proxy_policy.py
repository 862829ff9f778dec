"""Pure tests of the traffic policy values and the revision chooser (no sockets)."""

from __future__ import annotations

import re
import zlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.proxy.chooser import BUCKETS, Chooser, layout, owner, sticky_bucket
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy

no_deadline = settings(deadline=None)
# RFC 6265 cookie-octets (no ; , space, quote or backslash), also valid header values.
COOKIE_OCTETS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ';,"\\')
keys = st.text(alphabet=COOKIE_OCTETS, min_size=1, max_size=24).map(str.encode)


def cookie(value: bytes, name: bytes = b"sid") -> list[tuple[bytes, bytes]]:
    return [(b"Host", b"x"), (b"Cookie", b"theme=dark; " + name + b"=" + value + b"; a=b")]


# -- HeaderRoute ---------------------------------------------------------------------


def test_route_needs_exactly_one_matcher() -> None:
    with pytest.raises(ValueError, match="exactly one of value, prefix, regex; got none"):
        HeaderRoute("X-Canary", 2)
    with pytest.raises(ValueError, match="got value, prefix"):
        HeaderRoute("X-Canary", 2, value="1", prefix="1")


def test_bad_regex_is_rejected_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"header route X-Canary: regex '\(' is invalid: .*"):
        HeaderRoute("X-Canary", 2, regex="(")


@pytest.mark.parametrize("name", ["", "X Canary", "X:Canary", "Ünicode"])
def test_route_header_must_be_a_token(name: str) -> None:
    with pytest.raises(ValueError, match="must be an HTTP token"):
        HeaderRoute(name, 2, value="1")


def test_route_revision_must_be_an_int() -> None:
    with pytest.raises(ValueError, match="revision must be an int"):
        HeaderRoute("X-Canary", "2", value="1")  # type: ignore[arg-type]


def test_value_prefix_and_regex_matching() -> None:
    value = HeaderRoute("X-Canary", 2, value="always")
    prefix = HeaderRoute("X-User", 2, prefix="beta-")
    regex = HeaderRoute("X-User", 2, regex=r"(alice|bob)-\d+")
    assert value.matches([(b"x-CANARY", b"always")])
    assert value.matches([(b"X-Canary", b"always  ")])  # trailing OWS llhttp keeps
    assert not value.matches([(b"X-Canary", b"always-not")])
    assert not value.matches([(b"X-Canaryy", b"always")])
    assert prefix.matches([(b"X-User", b"beta-7")])
    assert not prefix.matches([(b"X-User", b"alpha-beta-7")])
    assert regex.matches([(b"X-User", b"bob-12")])
    assert not regex.matches([(b"X-User", b"bob-12x")])  # full match, not search
    assert regex.matches([(b"X-User", b"nobody"), (b"x-user", b"alice-1")])  # any line
    assert not regex.matches([])


def test_utf8_values_match_as_written() -> None:
    route = HeaderRoute("X-Team", 2, value="équipe")
    assert route.matches([(b"X-Team", "équipe".encode())])
    assert HeaderRoute("X-Team", 2, regex="é.*").matches([(b"X-Team", "équipe".encode())])


@given(st.text(min_size=0, max_size=12), st.text(min_size=0, max_size=12))
def test_matchers_agree_with_str_semantics(want: str, got: str) -> None:
    sent = [(b"X-K", got.encode())]
    assert HeaderRoute("X-K", 1, value=want).matches(sent) == (got.rstrip(" \t") == want)
    expected_prefix = got.rstrip(" \t").encode().startswith(want.encode())
    assert HeaderRoute("X-K", 1, prefix=want).matches(sent) == expected_prefix
    pattern = re.escape(want)
    expected_regex = re.fullmatch(pattern, got.rstrip(" \t")) is not None
    assert HeaderRoute("X-K", 1, regex=pattern).matches(sent) == expected_regex


# -- Sticky --------------------------------------------------------------------------


def test_sticky_parse() -> None:
    assert Sticky.parse("cookie:sid") == Sticky("cookie", "sid")
    assert Sticky.parse(" header:X-User ") == Sticky("header", "X-User")


@pytest.mark.parametrize("text", ["", "sid", "cookie", "cookie:", "query:sid", "Cookie:sid"])
def test_sticky_parse_errors_say_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r'"cookie:NAME" or "header:NAME"'):
        Sticky.parse(text)


def test_sticky_name_must_be_a_token() -> None:
    with pytest.raises(ValueError, match="sticky cookie name must be an HTTP token"):
        Sticky.parse("cookie:a b")
    with pytest.raises(ValueError, match="kind must be 'cookie' or 'header'"):
        Sticky("query", "a")  # type: ignore[arg-type]


@given(st.sampled_from(["cookie", "header"]), st.from_regex(r"[A-Za-z0-9_.-]+", fullmatch=True))
def test_sticky_parse_round_trips(kind: str, name: str) -> None:
    sticky = Sticky.parse(f"{kind}:{name}")
    assert (sticky.kind, sticky.name) == (kind, name)


TCHARS = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token


@given(
    st.text(alphabet=st.sampled_from("cookieheadr:!# \t-_é"), max_size=20) | st.text(max_size=20)
)
def test_sticky_parse_accepts_only_the_documented_form(text: str) -> None:
    kind, sep, name = text.strip().partition(":")
    if sep and kind in ("cookie", "header") and TCHARS.fullmatch(name.strip()):
        assert Sticky.parse(text).name == name.strip()
    else:
        with pytest.raises(ValueError, match="sticky"):
            Sticky.parse(text)


def test_sticky_key_from_cookie_and_header() -> None:
    by_cookie = Sticky("cookie", "sid")
    assert by_cookie.key(cookie(b"u42")) == b"u42"
    assert by_cookie.key(cookie(b"u42", b"SID")) is None  # cookie names are case-sensitive
    assert by_cookie.key([(b"Cookie", b"a=1"), (b"cookie", b"sid=z")]) == b"z"
    assert by_cookie.key([(b"Cookie", b"sid=")]) is None
    assert by_cookie.key([(b"X-Sid", b"sid=1")]) is None
    by_header = Sticky("header", "X-User")
    assert by_header.key([(b"x-user", b" alice \t")]) == b"alice"
    assert by_header.key([(b"x-user", b"")]) is None


# -- TrafficPolicy -------------------------------------------------------------------


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="weight for revision 2 must be an int >= 0, got -1"):
        TrafficPolicy({1: 10, 2: -1})
    with pytest.raises(ValueError, match="revision must be an int, got '1'"):
        TrafficPolicy({"1": 10})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"header_routes\[0\] must be a HeaderRoute"):
        TrafficPolicy(header_routes=("X-Canary",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sticky must be a Sticky"):
        TrafficPolicy(sticky="cookie:sid")  # type: ignore[arg-type]


def test_policy_is_immutable_and_copies_weights() -> None:
    weights = {2: 10, 1: 90}
    policy = TrafficPolicy(weights)
    weights[2] = 100
    assert policy.weights == {1: 90, 2: 10}
    with pytest.raises(TypeError):
        policy.weights[1] = 0  # type: ignore[index]
    assert not policy.reads_headers
    assert TrafficPolicy(sticky=Sticky("cookie", "s")).reads_headers


# -- Chooser -------------------------------------------------------------------------

weight_maps = st.dictionaries(st.integers(1, 20), st.integers(0, 100), min_size=1, max_size=6)


def test_header_routes_come_first_in_order_and_only_when_available() -> None:
    policy = TrafficPolicy(
        {1: 100},
        (HeaderRoute("X-A", 3, value="1"), HeaderRoute("X-B", 2, value="1")),
        Sticky("cookie", "sid"),
    )
    chooser = Chooser(policy)
    both = [(b"X-B", b"1"), (b"X-A", b"1"), *cookie(b"u")]
    assert chooser.choose({1: 1, 2: 1, 3: 1}, both) == 3  # first route in the policy wins
    assert chooser.choose({1: 1, 2: 1}, both) == 2  # the first one's revision is down
    assert chooser.choose({1: 1}, both) == 1  # no route available: shared traffic
    assert chooser.choose({1: 1, 2: 1, 3: 1}, [(b"X-A", b"2")]) == 1


@no_deadline
@given(weight_maps, st.binary(max_size=8))
def test_a_matching_route_beats_weights_and_stickiness(weights: dict[int, int], key: bytes) -> None:
    policy = TrafficPolicy(
        weights, (HeaderRoute("X-Canary", 99, value="1"),), Sticky.parse("cookie:sid")
    )
    chooser = Chooser(policy)
    available = dict.fromkeys([*weights, 99], 1)
    assert chooser.choose(available, [(b"X-Canary", b"1"), *cookie(key)]) == 99


@no_deadline
@given(weight_maps)
def test_wrr_within_three_points_over_2000_requests(weights: dict[int, int]) -> None:
    chooser = Chooser(TrafficPolicy(weights))
    available = dict.fromkeys(weights, 1)
    total = sum(weights.values())
    counts = Counter(chooser.choose(available, []) for _ in range(2000))
    if total == 0:
        assert counts == {None: 2000}
        return
    for revision, weight in weights.items():
        assert abs(counts[revision] / 2000 - weight / total) <= 0.03


def test_layout_is_newest_first_and_sized_by_share() -> None:
    plan = layout({1: 90, 2: 10, 3: 0})
    assert plan == ([2, 1], [1000, BUCKETS])
    assert owner(plan, 0) == 2
    assert owner(plan, 999) == 2
    assert owner(plan, 1000) == 1
    assert owner(plan, BUCKETS - 1) == 1
    assert owner(layout({1: 0}), 5) is None


def test_sticky_bucket_is_an_unsalted_hash() -> None:
    # Pinned: Python's salted hash() would move users whenever the agent restarts.
    # CRC-32 (zlib's, HAProxy's `crc32`): these values came from HAProxy 2.6's
    # `req.hdr(x-user),crc32,mod(10000)`, so both engines give a user one bucket.
    assert [sticky_bucket(k) for k in (b"alice", b"bob", "\u00e9t\u00e9".encode())] == [
        5735,
        7104,
        5572,
    ]
    assert sticky_bucket(b"alice") == zlib.crc32(b"alice") % BUCKETS


STICKY = Sticky("cookie", "sid")


@no_deadline
@given(keys, st.lists(st.integers(0, 100), min_size=2, max_size=8))
def test_sticky_is_monotone_as_the_canary_grows(key: bytes, steps: list[int]) -> None:
    was_canary = False
    for canary in [*sorted(steps), 100]:
        chooser = Chooser(TrafficPolicy({1: 100 - canary, 2: canary}, sticky=STICKY))
        chosen = chooser.choose({1: 1, 2: 1}, cookie(key))
        assert chosen == 2 or not was_canary, f"left the canary at weight {canary}"
        was_canary = chosen == 2
    assert was_canary  # at 100% everyone is on the canary


@no_deadline
@given(keys, st.lists(st.integers(0, 100), min_size=2, max_size=8), st.integers(0, 300))
def test_sticky_canary_interval_only_grows_with_other_weights_fixed(
    key: bytes, steps: list[int], rest: int
) -> None:
    sticky = Sticky("header", "X-User")
    was_canary = False
    for canary in sorted(steps):
        chooser = Chooser(TrafficPolicy({1: rest, 2: 7, 3: canary}, sticky=sticky))
        chosen = chooser.choose({1: 1, 2: 1, 3: 1}, [(b"X-User", key)])
        assert chosen == 3 or not was_canary, f"left the canary at weight {canary}"
        was_canary = chosen == 3


@no_deadline
@given(weight_maps, keys)
def test_sticky_user_always_gets_the_same_revision(weights: dict[int, int], key: bytes) -> None:
    chooser = Chooser(TrafficPolicy(weights, sticky=Sticky("cookie", "sid")))
    available = dict.fromkeys(weights, 1)
    picks = {chooser.choose(available, cookie(key)) for _ in range(20)}
    assert len(picks) == 1
    if sum(weights.values()):
        assert picks == {owner(layout(weights), sticky_bucket(key))}


def test_sticky_owner_without_endpoints_falls_back_to_wrr() -> None:
    chooser = Chooser(TrafficPolicy({1: 50, 2: 50}, sticky=Sticky("cookie", "sid")))
    key = next(
        k
        for k in (b"u%d" % i for i in range(100))
        if owner(layout({1: 1, 2: 1}), sticky_bucket(k)) == 2
    )
    assert chooser.choose({1: 1, 2: 1}, cookie(key)) == 2
    assert chooser.choose({1: 1}, cookie(key)) == 1


def test_sticky_spreads_users_by_weight() -> None:
    chooser = Chooser(TrafficPolicy({1: 80, 2: 20}, sticky=Sticky("cookie", "sid")))
    counts = Counter(chooser.choose({1: 1, 2: 1}, cookie(b"user-%d" % i)) for i in range(4000))
    assert abs(counts[2] / 4000 - 0.2) <= 0.03


def test_without_weights_sticky_users_spread_by_endpoint_count() -> None:
    chooser = Chooser(TrafficPolicy(sticky=Sticky("cookie", "sid")))
    counts = Counter(chooser.choose({1: 3, 2: 1}, cookie(b"user-%d" % i)) for i in range(4000))
    assert abs(counts[2] / 4000 - 0.25) <= 0.03
    assert chooser.choose({1: 3, 2: 1}, []) is None  # no key, no weights: any endpoint
    assert chooser.shares(7)


def test_shares_follows_weights() -> None:
    chooser = Chooser(TrafficPolicy({1: 0, 2: 5}))
    assert not chooser.shares(1)
    assert chooser.shares(2)
    assert not chooser.shares(3)
