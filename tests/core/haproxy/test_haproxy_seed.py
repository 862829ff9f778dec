"""What HAProxy starts with (`haproxy.seed`), its map files (`maps.file_text`) and the
blank-free regex keys (`routes.unblank`), pure.

A seed must be exactly what the runtime path reaches from an empty HAProxy: the steps
`plan_all` would send, applied, and the maps `routes.maps` gives from what they left
ready. A map file must read back, by HAProxy 2.6's reader (modelled below from
`pat_ref_read_from_file_smp`), as the entries the runtime API would have added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.haproxy import maps, routes, seed
from changeover.haproxy.config import BACKEND, Settings
from changeover.haproxy.plan import Have, Want, plan_all
from changeover.haproxy.routes import Entries, MapFiles
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy

FILES = MapFiles.under("/s/haproxy")
SETTINGS = Settings(listen_fd=3, stats_socket="/s/haproxy/stats.sock", map_dir="/s/haproxy")
OPTS = SETTINGS.server_options()


def want(revision: int, port: int, routable: bool = True) -> Want:
    return Want(revision, "127.0.0.1", port, routable)


def haproxy_reads(text: bytes, size: int = 16384) -> list[tuple[bytes, bytes]]:
    """A map file as HAProxy 2.6 reads it: `fgets` of `size` - 1 bytes at most, a line
    starting with `#` skipped, leading blanks skipped, blank lines skipped, the key up to
    a blank (or CR, LF, NUL), blanks, the value up to CR, LF or NUL, trailing blanks cut."""
    out = []
    pos = 0
    while pos < len(text):
        newline = text.find(b"\n", pos)
        end = min(len(text) if newline < 0 else newline + 1, pos + size - 1)
        line, pos = text[pos:end], end
        if line.startswith(b"#"):
            continue
        line = line.lstrip(b" \t")
        if line[:1] in (b"", b"\r", b"\n"):
            continue
        key = re.match(rb"[^ \t\r\n\0]*", line)
        assert key is not None
        rest = line[key.end() :].lstrip(b" \t")
        value = re.match(rb"[^\r\n\0]*", rest)
        assert value is not None
        out.append((key.group(), value.group().rstrip(b" \t")))
    return out


def runtime_path(
    wants: Mapping[str, Want],
    shares: Mapping[int, int] | None,
    policy: TrafficPolicy,
    preview: int | None,
) -> tuple[dict[int, int], dict[str, dict[str, Have]], dict[str, Entries]]:
    """What an engine whose HAProxy started empty reaches once its reconcile is done:
    slots assigned, every step of `plan_all` applied, then the maps from what is ready."""
    revisions = {w.revision for w in wants.values()}
    routable: dict[int, int] = {}
    for w in wants.values():
        if w.routable:
            routable[w.revision] = routable.get(w.revision, 0) + 1
    slots = routes.assign({}, revisions, (), routes.named(policy, preview, routable))
    backends = {rev: routes.slot_name(slot) for rev, slot in slots.items()}
    haves: dict[str, dict[str, Have]] = {}
    for step in plan_all(wants, {}, shares, BACKEND, backends, OPTS):
        assert step.after is not None  # from empty: nothing to delete
        haves.setdefault(step.backend, {})[step.server] = step.after
    ready = {
        rev
        for rev, slot in slots.items()
        for name, have in haves.get(routes.slot_name(slot), {}).items()
        if have.state == "ready" and wants[name].routable
    }
    return slots, haves, routes.maps(FILES, policy, preview, slots, ready, routable)


ROUTE = HeaderRoute("x-canary", 2, value="yes")
STICKY = Sticky("cookie", "user")
WANTS = {
    "r1-1": want(1, 41001),
    "r1-2": want(1, 41002),
    "r2-3": want(2, 41003),
    "r3-4": want(3, 41004, routable=False),  # starting: in maintenance, no entry for it
}


def test_a_start_holds_the_slot_twins_and_the_maps_the_runtime_path_would_write() -> None:
    policy = TrafficPolicy({1: 80, 2: 20, 3: 0}, header_routes=(ROUTE,), sticky=STICKY)
    start = seed.seed(WANTS, policy.weights, {}, FILES, policy, 2)
    slots, haves, wanted = runtime_path(WANTS, policy.weights, policy, 2)
    assert start.slots == slots == {2: 0, 1: 1, 3: 2}  # named first, then the newest
    assert start.servers == haves[BACKEND]
    assert {b: dict(h) for b, h in start.slot_servers.items()} == {
        b: h for b, h in haves.items() if b != BACKEND
    }
    assert start.maps == wanted
    assert wanted[FILES.routes] == ((routes.route_pattern(ROUTE), "slot0"),)
    assert wanted[FILES.switch] == (("routes", "1"), ("sticky", "1"), ("preview", "slot0"))
    assert wanted[FILES.buckets] == (("0:1999", "slot0"), ("2000:9999", "slot1"))
    for path, entries in start.maps.items():  # each file reads back as those entries
        text = maps.file_text(entries).encode()
        assert haproxy_reads(text) == [(k.encode(), v.encode()) for k, v in entries], path
    # and the reconcile has nothing to add, enable or write after such a start
    backends = {rev: routes.slot_name(slot) for rev, slot in start.slots.items()}
    had = {BACKEND: start.servers, **start.slot_servers}
    assert plan_all(WANTS, had, policy.weights, BACKEND, backends, OPTS) == []


def test_the_rendered_configuration_starts_the_slot_twins_enabled_as_their_twin() -> None:
    policy = TrafficPolicy({1: 80, 2: 20, 3: 0}, header_routes=(ROUTE,))
    text = seed.config_text(SETTINGS, seed.seed(WANTS, policy.weights, {}, FILES, policy, None))
    server = "    server {} 127.0.0.1:{} weight {} pool-purge-delay 1000ms{}"
    # revision 2 is named by the route: the first slot; then the newest
    assert (
        "backend slot0\n    # a revision's replicas again, at run time\n    balance roundrobin\n"
        "    retries 3\n    retry-on conn-failure empty-response\n    option redispatch 1\n"
        + server.format("r2-3", 41003, 1, "")
        + "\n\nbackend slot1"
    ) in text
    assert (server.format("r3-4", 41004, 1, " disabled") + "\n\nbackend slot2") in text
    slot2 = text.split("backend slot2")[1].split("backend slot3")[0]
    assert server.format("r1-1", 41001, 1, "") in slot2
    assert server.format("r1-2", 41002, 1, "") in slot2
    replicas = text.split("\nbackend replicas\n")[1].split("backend slot0")[0]
    assert server.format("r1-1", 41001, 256, "") in replicas
    assert server.format("r2-3", 41003, 128, "") in replicas  # 20 % on one, 80 % on two
    assert server.format("r3-4", 41004, 0, " disabled") in replicas
    slot3 = text.split("backend slot3\n")[1].split("backend unrouted")[0]
    assert "    server" not in slot3


def test_a_revision_keeps_its_slot_across_a_restart_and_a_new_one_takes_a_free_one() -> None:
    policy = TrafficPolicy({1: 100, 2: 0}, header_routes=(ROUTE,))
    start = seed.seed(WANTS, policy.weights, {1: 3, 2: 0, 9: 1}, FILES, policy, None)
    assert start.slots == {1: 3, 2: 0, 3: 1}  # 9 has no replica left: its slot is free
    assert start.maps[FILES.routes] == ((routes.route_pattern(ROUTE), "slot0"),)


def test_a_revision_with_no_routable_replica_gets_no_entry_as_at_run_time() -> None:
    wants = {"r1-1": want(1, 41001), "r2-2": want(2, 41002, routable=False)}
    policy = TrafficPolicy({1: 50, 2: 50}, header_routes=(ROUTE,), sticky=STICKY)
    start = seed.seed(wants, policy.weights, {}, FILES, policy, 2)
    assert start.maps == runtime_path(wants, policy.weights, policy, 2)[2]
    assert start.maps[FILES.routes] == ()  # the route's requests fall to the weights
    assert start.maps[FILES.switch] == (("sticky", "1"),)  # no preview: 503 there
    assert routes.slot_name(start.slots[2]) not in dict(start.maps[FILES.buckets]).values()


def test_without_maps_a_start_has_the_weighted_servers_only() -> None:
    start = seed.seed(WANTS, None, {1: 0}, None, TrafficPolicy(), None)
    assert (start.slots, start.slot_servers, start.maps) == ({}, {}, {})
    assert set(start.servers) == set(WANTS)
    plain = Settings(listen_fd=3, stats_socket="/s/stats.sock")
    assert "backend slot0" not in seed.config_text(plain, start)


@settings(max_examples=200)
@given(
    wants=st.dictionaries(
        st.integers(1, 40).map(lambda n: f"r{n}"),
        st.builds(want, st.integers(1, 6), st.integers(1024, 65535), st.booleans()),
        max_size=10,
    ),
    weights=st.none() | st.dictionaries(st.integers(1, 6), st.integers(0, 100), min_size=1),
    routed=st.lists(st.integers(1, 6), max_size=3),
    sticky=st.none() | st.just(STICKY) | st.just(Sticky("header", "x-user")),
    preview=st.none() | st.integers(1, 6),
)
def test_any_seed_is_the_runtime_paths_end_and_its_files_read_back_exactly(
    wants: dict[str, Want],
    weights: dict[int, int] | None,
    routed: list[int],
    sticky: Sticky | None,
    preview: int | None,
) -> None:
    if weights is not None and not any(weights.values()):
        weights = None
    header_routes = tuple(
        HeaderRoute(f"x-r{n}", rev, regex=r"a b\ c[ \t]") for n, rev in enumerate(routed)
    )
    policy = TrafficPolicy(weights, header_routes=header_routes, sticky=sticky)
    start = seed.seed(wants, weights, {}, FILES, policy, preview)
    slots, haves, wanted = runtime_path(wants, weights, policy, preview)
    assert start.slots == slots
    assert start.servers == haves.get(BACKEND, {})
    assert start.maps == wanted
    ready = {  # an entry names only a slot with a server that starts ready, wanted so
        routes.slot_name(slots[w.revision])
        for name, w in wants.items()
        if w.routable and w.revision in slots
    }
    for entries in start.maps.values():
        named = {value for _, value in entries if value.startswith("slot")}
        assert named <= ready
        text = maps.file_text(entries).encode()
        assert haproxy_reads(text) == [(k.encode(), v.encode()) for k, v in entries]


# --- map files ------------------------------------------------------------------------

KEYS = st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), min_size=1, max_size=30)


@settings(max_examples=300)
@given(entries=st.lists(st.tuples(KEYS, KEYS), max_size=5))
def test_a_map_file_reads_back_as_its_entries_or_is_refused(
    entries: list[tuple[str, str]],
) -> None:
    misread = [  # the entries HAProxy would read otherwise if written as `key value`
        (k, v)
        for k, v in entries
        if haproxy_reads(f"{k} {v}\n".encode()) != [(k.encode(), v.encode())]
    ]
    if misread:
        with pytest.raises(ValueError, match="a map file cannot hold"):
            maps.file_text(entries)
        return
    text = maps.file_text(entries)
    assert haproxy_reads(text.encode()) == [(k.encode(), v.encode()) for k, v in entries]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("a b", "slot0", "cannot hold the key 'a b'"),
        ("a\tb", "slot0", "cannot hold the key"),
        ("#x", "slot0", "not starting with #"),
        ("", "slot0", "cannot hold the key"),
        ("k", " slot0", "cannot hold the value"),
        ("k", "slot0\t", "cannot hold the value"),
        ("k", "a\nb", "cannot hold the value"),
        ("k", "", "cannot hold the value"),
        ("k" * 16380, "slot0", "a line of 16386 bytes"),
    ],
)
def test_an_entry_a_map_file_would_misread_is_refused(key: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        maps.file_text([("ok", "1"), (key, value)])


def test_the_longest_line_haproxy_reads_whole_is_written_one_byte_more_is_refused() -> None:
    key = "k" * (maps.FILE_LINE - len(" slot0"))
    text = maps.file_text([(key, "slot0")]).encode()
    assert haproxy_reads(text) == [(key.encode(), b"slot0")]
    longer = (key + "k").encode() + b" slot0\n"  # fgets cuts it before its last byte
    assert haproxy_reads(longer) == [((key + "k").encode(), b"slot"), (b"0", b"")]
    with pytest.raises(ValueError, match="a line of 16384 bytes"):
        maps.file_line(key + "k", "slot0")


# --- regex keys without blanks ----------------------------------------------------------

PIECES = st.sampled_from(
    [
        *(" ", "\t", "\\ ", "\\\t", "\\\\", "a", "b", "[ ]", "[^ a]", "[ -~]", "[\\ x]", "("),
        *(")", "|", "*", "+", "?", "{1, 2}", "{1,2}", "(?#a b)", "(?i:a b)", "\\x20", "\\d", "."),
    ]
)


@settings(max_examples=400)
@given(
    regex=st.lists(PIECES, max_size=8).map("".join),
    subjects=st.lists(st.text(st.sampled_from(" \ta b~\\{},12"), max_size=6), max_size=8),
)
def test_a_regex_without_blanks_matches_exactly_what_it_matched(
    regex: str, subjects: list[str]
) -> None:
    try:
        original = re.compile(regex)
    except re.error:
        return
    spelt = routes.unblank(regex)
    assert " " not in spelt
    assert "\t" not in spelt
    unblanked = re.compile(spelt)
    for subject in [*subjects, "a b", "a\tb", " ", "{1, 2}"]:
        first, second = original.fullmatch(subject), unblanked.fullmatch(subject)
        assert (first and first.span()) == (second and second.span()), subject


def test_a_verbose_regex_keeps_its_blanks_and_so_is_written_by_the_runtime_api() -> None:
    assert routes.unblank("(?x) a b") == "(?x) a b"
    assert routes.unblank("(?ix: a )b") == "(?ix: a )b"
    assert routes.unblank(r"\N{LATIN SMALL LETTER A}") == r"\N{LATIN SMALL LETTER A}"
    assert routes.unblank(r"v2\.[0-9]+ (rc|final)") == r"v2\.[0-9]+\x20(rc|final)"
    pattern = routes.route_pattern(HeaderRoute("x-v", 2, regex="(?x) a b"))
    with pytest.raises(ValueError, match="cannot hold the key"):
        maps.file_text([(pattern, "slot0")])
