"""`haproxy.routes`: a traffic policy as map contents, and slots for revisions (pure).

The patterns are PCRE for HAProxy; Python's `re` reads this subset (`(?m)`, `(?i:...)`,
`\\xHH`, classes) the same way, so the properties below check the translation against
the builtin proxy's own matching (`HeaderRoute.matches`, `Sticky.key`) on the header
block HAProxy builds (`req.hdrs`: lower-case names, trimmed values, CRLF lines). The io
tests check the same patterns against HAProxy's PCRE2 itself.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.haproxy import maps, routes
from changeover.haproxy.routes import MapFiles
from changeover.proxy.chooser import BUCKETS, layout, owner
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy

FILES = MapFiles.under("/s")
OWS = " \t"
NAMES = st.sampled_from(["x-canary", "X-Canary", "x-user", "cookie", "x-a.b", "x_c"])
TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x17F, exclude_characters="\x7f"), max_size=12
)


def block(headers: list[tuple[str, str]]) -> str:
    """`req.hdrs` as HAProxy 2.6 gives it (seen live), as latin-1 text of its bytes."""
    lines = "".join(name.lower() + ": " + value.strip(OWS) + "\r\n" for name, value in headers)
    return (lines + "\r\n").encode().decode("latin-1")


def raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """The headers as the builtin proxy's parser (httptools/llhttp) gives them: values
    without their leading and trailing whitespace, as HAProxy's `req.hdrs` has them."""
    return [(name.encode(), value.strip(OWS).encode()) for name, value in headers]


HEADERS = st.lists(st.tuples(NAMES, TEXT), max_size=4)


def test_a_value_route_is_one_anchored_line_with_no_space_or_semicolon() -> None:
    pattern = routes.route_pattern(HeaderRoute("X-Canary", 2, value="always on;"))
    assert pattern == (r"(?m)^(?i:x\x2dcanary):[\x20\x09]*always\x20on\x3b[\x20\x09]*\r?$")
    prefix = routes.route_pattern(HeaderRoute("x-group", 2, prefix="beta"))
    assert prefix == r"(?m)^(?i:x\x2dgroup):[\x20\x09]*beta[^\r\n]*\r?$"
    regex = routes.route_pattern(HeaderRoute("x-v", 2, regex="v2|v3"))
    assert regex == r"(?m)^(?i:x\x2dv):[\x20\x09]*(?:v2|v3)[\x20\x09]*\r?$"


@settings(max_examples=300)
@given(
    name=NAMES,
    kind=st.sampled_from(["value", "prefix"]),
    text=TEXT,
    headers=HEADERS,
    pick=st.booleans(),
)
def test_value_and_prefix_routes_match_as_the_builtin_proxy_does(
    name: str, kind: str, text: str, headers: list[tuple[str, str]], pick: bool
) -> None:
    text = text.strip(OWS)  # HAProxy trims values; a route on padded text never matches
    route = HeaderRoute(name, 2, **{kind: text})
    if pick:  # make a match likely
        headers = [*headers, (name.upper(), text + "x" * (kind == "prefix"))]
    pattern = re.compile(routes.route_pattern(route))
    assert bool(pattern.search(block(headers))) == route.matches(raw(headers))


@settings(max_examples=200)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from(["x-v", "x-w"]), st.from_regex(r"v[0-9]{1,2}( rc)?", fullmatch=True)
        ),
        max_size=3,
    ),
)
def test_a_regex_route_matches_a_whole_value_as_fullmatch_does(
    headers: list[tuple[str, str]],
) -> None:
    route = HeaderRoute("x-v", 2, regex=r"v[0-9]+ rc")
    pattern = re.compile(routes.route_pattern(route))
    assert bool(pattern.search(block(headers))) == route.matches(raw(headers))


@settings(max_examples=300)
@given(
    kind=st.sampled_from(["cookie", "header"]),
    name=st.sampled_from(["user", "sid", "x-user"]),
    headers=st.lists(
        st.one_of(
            st.tuples(
                st.just("Cookie"),
                st.lists(
                    st.tuples(
                        st.sampled_from(["user", "sid", "xuser", "User"]),
                        TEXT.filter(lambda v: ";" not in v),
                    ),
                    max_size=3,
                ).map(lambda pairs: "; ".join(f"{k}={v}" for k, v in pairs)),
            ),
            st.tuples(st.sampled_from(["x-user", "X-User", "sid"]), TEXT),
        ),
        max_size=3,
    ),
)
def test_the_sticky_key_is_found_as_the_builtin_proxy_finds_it(
    kind: str, name: str, headers: list[tuple[str, str]]
) -> None:
    sticky = Sticky(kind, name)  # type: ignore[arg-type]
    key = sticky.key(raw(headers))
    found = re.search(routes.key_pattern(sticky), block(headers))
    got = None if found is None else found.group(1).encode("latin-1")
    if key is not None and _first_line_decides(kind, name, headers):
        assert got == key
    elif key is None and got is not None:
        # the one difference: an empty first value makes the builtin stop, HAProxy's
        # pattern go on to a later line or pair (docs/haproxy.md)
        assert _has_empty_first(kind, name, headers)


def _first_line_decides(kind: str, name: str, headers: list[tuple[str, str]]) -> bool:
    return not _has_empty_first(kind, name, headers)


def _has_empty_first(kind: str, name: str, headers: list[tuple[str, str]]) -> bool:
    if kind == "header":
        values = [v for n, v in headers if n.lower() == name]
        return bool(values) and not values[0].strip(" \t")
    for n, v in headers:
        if n.lower() != "cookie":
            continue
        for pair in v.split(";"):
            k, _, value = pair.strip(" \t").partition("=")
            if k.strip(" \t") == name:
                return not value.strip(" \t")
    return False


@given(
    weights=st.dictionaries(st.integers(1, 9), st.integers(0, 100), min_size=1, max_size=4),
    bucket=st.integers(0, BUCKETS - 1),
)
def test_bucket_ranges_give_each_bucket_to_the_builtin_proxys_owner(
    weights: dict[int, int], bucket: int
) -> None:
    backends = {rev: f"slot{rev % 4}" for rev in weights}
    ranges = routes.bucket_ranges(weights, backends)
    hits = [b for key, b in ranges if _within(key, bucket)]
    expected = owner(layout(weights), bucket)
    assert hits == ([] if expected is None else [backends[expected]])


def _within(key: str, bucket: int) -> bool:
    low, high = map(int, key.split(":"))
    return low <= bucket <= high


def test_a_bucket_owned_by_a_revision_with_no_usable_slot_falls_to_the_weights() -> None:
    assert routes.bucket_ranges({1: 90, 2: 10}, {1: "slot0"}) == (("1000:9999", "slot0"),)
    assert routes.bucket_ranges({1: 90, 2: 10}, {2: "slot1", 1: "slot0"}) == (
        ("0:999", "slot1"),
        ("1000:9999", "slot0"),
    )


def test_maps_point_only_at_usable_slots_and_switch_on_what_is_there() -> None:
    route = HeaderRoute("x-canary", 2, value="1")
    policy = TrafficPolicy({1: 90, 2: 10}, header_routes=(route,), sticky=Sticky("cookie", "u"))
    wanted = routes.maps(FILES, policy, 2, {1: 0, 2: 1}, {1, 2}, {1: 2, 2: 1})
    assert wanted[FILES.routes] == ((routes.route_pattern(route), "slot1"),)
    assert wanted[FILES.keys] == ((routes.key_pattern(Sticky("cookie", "u")), "\\1"),)
    assert wanted[FILES.buckets] == (("0:999", "slot1"), ("1000:9999", "slot0"))
    assert wanted[FILES.switch] == (("routes", "1"), ("sticky", "1"), ("preview", "slot1"))
    # revision 2 has no ready server in its slot: no route, no bucket, no preview
    later = routes.maps(FILES, policy, 2, {1: 0, 2: 1}, {1}, {1: 2})
    assert later[FILES.routes] == ()
    assert later[FILES.buckets] == (("1000:9999", "slot0"),)
    assert later[FILES.switch] == (("sticky", "1"),)
    plain = routes.maps(FILES, TrafficPolicy({1: 100}), None, {1: 0}, {1}, {1: 2})
    assert all(entries == () for entries in plain.values())


def test_sticky_users_without_weights_are_laid_out_by_routable_replicas() -> None:
    policy = TrafficPolicy(None, sticky=Sticky("header", "x-user"))
    wanted = routes.maps(FILES, policy, None, {1: 0, 2: 1}, {1, 2}, {1: 3, 2: 1})
    assert wanted[FILES.buckets] == (("0:2499", "slot1"), ("2500:9999", "slot0"))


def test_slots_are_kept_named_revisions_come_first_then_the_newest() -> None:
    assert routes.assign({}, [1, 2], (), ()) == {2: 0, 1: 1}  # newest first
    assert routes.assign({}, [1, 2, 3, 4, 5, 6], (), {1, 6}) == {6: 0, 1: 1, 5: 2, 4: 3}
    kept = routes.assign({1: 3}, [1, 2], (), ())
    assert kept == {1: 3, 2: 0}
    # a slot whose servers HAProxy still has is not given away yet
    assert routes.assign({}, [2], occupied=[0], named=()) == {2: 1}
    assert routes.unslotted({1: 0}, {1, 7}) == [7]


@given(
    previous=st.dictionaries(st.integers(1, 8), st.integers(0, 3), max_size=4).filter(
        lambda d: len(set(d.values())) == len(d)
    ),
    revisions=st.sets(st.integers(1, 8), max_size=8),
    occupied=st.sets(st.integers(0, 3)),
    named=st.sets(st.integers(1, 8)),
)
def test_slot_assignment_is_one_to_one_stable_and_respects_occupied_slots(
    previous: dict[int, int], revisions: set[int], occupied: set[int], named: set[int]
) -> None:
    occupied -= set(previous.values())
    slots = routes.assign(previous, revisions, occupied, named)
    assert set(slots) <= revisions
    assert len(set(slots.values())) == len(slots)  # one revision per slot
    assert all(0 <= slot < routes.SLOTS for slot in slots.values())
    for rev, slot in previous.items():
        if rev in revisions:
            assert slots[rev] == slot  # a revision keeps its slot
    fresh = [slot for rev, slot in slots.items() if previous.get(rev) != slot]
    assert not set(fresh) & occupied
    if len(slots) < len(revisions):  # someone got none: every slot is used or occupied
        assert len(slots) + len(occupied) == routes.SLOTS


def test_map_commands_escape_what_the_cli_would_split() -> None:
    add = maps.add("/s/routes.map", 3, r"(?m)^x: a b;c\d", "slot1")
    assert add.text == r"add map @3 /s/routes.map (?m)^x:\ a\ b\;c\\d slot1"
    assert maps.prepare("/s/routes.map").text == "prepare map /s/routes.map"
    assert maps.version("New version created: 12\n\n") == 12
    assert maps.commit("/s/routes.map", 12).text == "commit map @12 /s/routes.map"
    assert maps.add("/s/a.map", 1, "k", "v").check(b"\n") == "\n"


def test_the_frontend_routes_preview_then_header_routes_then_sticky_then_weights() -> None:
    lines = routes.frontend_lines(FILES, "replicas")
    uses = [line.strip() for line in lines if "use_backend" in line]
    assert uses == [
        "use_backend %[str(preview),map(/s/switch.map,unrouted)] if { so_name preview }",
        "use_backend %[var(txn.co_route)] if { var(txn.co_route) -m found }",
    ]
    # a header route sets the slot first; a sticky user's bucket only where none did
    sets = [line.strip() for line in lines if "set-var(txn.co_route)" in line]
    assert len(sets) == 2
    assert "map_reg(/s/routes.map)" in sets[0]
    assert "{ str(routes),map(/s/switch.map) -m found } !{ so_name preview }" in sets[0]
    assert "map_regm(/s/keys.map),crc32,mod(10000),map_int(/s/buckets.map)" in sets[1]
    assert sets[1].endswith(
        "{ str(sticky),map(/s/switch.map) -m found } !{ so_name preview }"
        " !{ var(txn.co_route) -m found }"
    )
    assert lines[-1] == "    default_backend replicas"
    # a preview connection closes after an answer given while there is no preview
    (close,) = [line.strip() for line in lines if "http-after-response" in line]
    assert close == (
        "http-after-response set-header Connection close if { so_name preview }"
        " !{ str(preview),map(/s/switch.map) -m found }"
    )


def cli_words(line: str) -> list[list[str]]:
    """HAProxy 2.6's CLI reading of a line, as seen live: `;` ends a command, spaces
    and tabs end a word, a backslash makes the next character plain."""
    commands: list[list[str]] = [[]]
    word: str | None = None
    chars = iter(line)
    for ch in chars:
        if ch == "\\":
            word = (word or "") + next(chars, "")
        elif ch in " \t":
            if word is not None:
                commands[-1].append(word)
            word = None
        elif ch == ";":
            if word is not None:
                commands[-1].append(word)
            word = None
            commands.append([])
        else:
            word = (word or "") + ch
    if word is not None:
        commands[-1].append(word)
    return commands


@given(key=st.text(st.characters(exclude_characters="\r\n\x00"), min_size=1), value=TEXT)
def test_a_quoted_key_and_value_reach_haproxy_as_one_command_of_five_words(
    key: str, value: str
) -> None:
    value = value or "v"
    command = maps.add("/s/routes.map", 2, key, value)
    assert cli_words(command.text) == [["add", "map", "@2", "/s/routes.map", key, value]]
