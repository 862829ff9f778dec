"""The haproxy engine's access log without IO: the request log's long lines read back
exactly (Hypothesis: any path, request id and method), a cut line read with its path cut
at a whole byte, anything else refused; the JSON lines have the builtin's fields in its
order, no query string unless asked, and the builtin's words for what went wrong; the
configuration asks HAProxy for all of it, and for changeover's error pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.haproxy import errorpages, logline
from changeover.haproxy.access import HaproxyAccessLog, answered_by_haproxy, body_bytes, error
from changeover.haproxy.config import Settings, render
from changeover.proxy import access as builtin_access
from changeover.proxy.errors import NO_REPLICA, REASONS, error_body, not_responding

WALL = 1796637600.1235  # 2026-12-07T10:00:00.123Z
BUILTIN_FIELDS = re.findall(rb'"(\w+)":', builtin_access._LINE)

methods = (
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1)
    .map(str.encode)
    .filter(lambda m: not m.startswith(b"<"))
)
states = st.sampled_from(["--", "SC", "SH", "sH", "CD", "cD", "CR", "cR", "PR", "SD", "sQ"])


def hex_or_none(value: bytes | None) -> bytes:
    return b"-" if value is None else value.hex().upper().encode()


def line(
    *,
    server: str = "r3-1",
    status: int = 200,
    active: int = 12,
    state: str = "--",
    ended: int = 1_796_637_600_123,  # WALL, in ms
    client: str = "127.0.0.1",
    method: bytes = b"GET",
    length: int | None = 2,
    request_id: bytes | None = b"id-1",
    path: bytes | None = b"/items",
) -> bytes:
    """A line as HAProxy writes `logline.ACCESS_FORMAT`."""
    return b" ".join(
        [
            server.encode(),
            b"%d" % status,
            b"%d" % active,
            state.encode(),
            b"%d" % ended,
            client.encode(),
            method,
            b"-" if length is None else b"%d" % length,
            hex_or_none(request_id),
            hex_or_none(path),
            b".\n",
        ]
    )


@given(
    path=st.none() | st.binary(min_size=1, max_size=300),
    request_id=st.none() | st.binary(max_size=80),
    method=methods,
    status=st.integers(-1, 999),
    active=st.integers(-1, 10**7),
    state=states,
    length=st.none() | st.integers(0, 10**12),
    client=st.sampled_from(["127.0.0.1", "::1", "2001:db8::7"]),
)
def test_an_access_line_reads_back_exactly(
    path: bytes | None,
    request_id: bytes | None,
    method: bytes,
    status: int,
    active: int,
    state: str,
    length: int | None,
    client: str,
) -> None:
    text = line(
        status=status,
        active=active,
        state=state,
        client=client,
        method=method,
        length=length,
        request_id=request_id,
        path=path,
    )
    entry = logline.parse_access(text)
    assert entry is not None
    assert (entry.path, entry.request_id, entry.method, entry.length) == (
        path,
        request_id,
        method,
        length,
    )
    assert (entry.logged.status, entry.active_ms, entry.state, entry.client) == (
        status,
        active,
        state,
        client,
    )
    assert not entry.truncated
    assert logline.parse(text) == entry.logged  # the metrics read the same four words
    assert entry.logged == logline.parse(b" ".join(text.split()[:4]))


@given(path=st.binary(min_size=1, max_size=200), data=st.data())
def test_a_line_cut_in_its_path_keeps_a_whole_byte_prefix(path: bytes, data: st.DataObject) -> None:
    whole = line(path=path).removesuffix(b" .\n")
    cut = data.draw(st.integers(len(whole) - len(path) * 2 + 1, len(whole)), label="cut")
    entry = logline.parse_access(whole[:cut])
    assert entry is not None
    assert entry.truncated
    assert entry.path is not None
    assert path.startswith(entry.path)
    assert len(entry.path) == (cut - (len(whole) - len(path) * 2)) // 2


@given(st.binary(max_size=200))
def test_no_line_raises_and_a_shapeless_one_is_none(junk: bytes) -> None:
    entry = logline.parse_access(junk)
    logged = logline.parse(junk)
    if entry is not None:
        assert logged == entry.logged


@given(st.lists(st.sampled_from([b"r3-1", b"200", b"-1", b"12", b"--", b"SC", b"1_0", b" 1"])))
def test_words_are_read_strictly(words: list[bytes]) -> None:
    logged = logline.parse(b" ".join(words))
    # The server's name is any word; the numbers are digits only, the state two letters
    # or dashes.
    numbers = (b"200", b"-1", b"12", b" 1")
    expected = (
        len(words) == 4 and all(w in numbers for w in words[1:3]) and words[3] in (b"--", b"SC")
    )
    assert (logged is not None) == expected


def test_lines_of_other_shapes_are_refused() -> None:
    good = line()
    assert logline.parse_access(good) is not None
    for bad in (
        good.replace(b" . ", b" ").replace(b" .\n", b" x .\n"),  # a word too many
        good.replace(b"GET ", b""),  # a word missing
        good.replace(b"696", b"69G"),  # not hex
        line(length=None).replace(b" - ", b" 2x "),  # not a length
        line(path=b"/a").replace(b" 2F61 ", b" 2F6 "),  # an odd number of hex digits
        b"r3-1 200 12 --\n",  # the short shape: not an access line
    ):
        assert logline.parse_access(bad) is None, bad
    assert logline.parse_access(line(method=b"<BADREQ>", path=None)).method is None  # type: ignore[union-attr]


def entry(**fields: object) -> logline.Access:
    found = logline.parse_access(line(**fields))  # type: ignore[arg-type]
    assert found is not None
    return found


def json_line(
    log: HaproxyAccessLog, found: logline.Access, revision: int | None
) -> dict[str, object]:
    text = log.line(found, revision, WALL)
    assert text.endswith(b"\n")
    assert text.count(b"\n") == 1
    fields = re.findall(rb'"(\w+)":', text)
    assert fields == BUILTIN_FIELDS  # the builtin's fields, in its order, and no others
    decoded: dict[str, object] = json.loads(text)
    return decoded


def test_a_json_line_is_the_builtins_and_keeps_no_query_unless_asked() -> None:
    found = entry(path=b"/a?token=secret", request_id=b'x "y"', active=1234)
    plain = HaproxyAccessLog("/nonexistent", False, 60.0, lambda d, f: None)
    assert json_line(plain, found, 3) == {
        "time": "2026-12-07T10:00:00.123Z",
        "revision": 3,
        "replica": "r3-1",
        "method": "GET",
        "path": "/a",
        "status": 200,
        "duration": 1.234,
        "bytes": 2,
        "request_id": 'x "y"',
        "client": "127.0.0.1",
        "error": None,
    }
    asked = HaproxyAccessLog("/nonexistent", True, 60.0, lambda d, f: None)
    assert json_line(asked, found, 3)["path"] == "/a?token=secret"
    odd = json_line(plain, entry(path=b"/caf\xc3\xa9/\xff"), 3)
    assert odd["path"] == "/café/\\xff"  # as the builtin writes bytes that are not UTF-8


def test_haproxys_own_answers_name_no_replica_and_say_why() -> None:
    log = HaproxyAccessLog("/nonexistent", False, 60.0, lambda d, f: None)
    left = "the client closed the connection before the response ended"
    closed = "upstream r3-1 closed the connection before completing the response"
    bad = {"server": "<NOSRV>", "method": b"<BADREQ>", "path": None, "request_id": None}
    cases: list[tuple[dict[str, object], str | None, str, int | None]] = [
        ({"server": "<NOSRV>", "status": 503, "state": "SC"}, None, NO_REPLICA, 71),
        ({"status": 503, "state": "SC"}, None, "could not connect to upstream r3-1 (SC)", 71),
        ({"status": 502, "state": "SH"}, None, closed, 79),
        ({"status": 504, "state": "sH"}, None, not_responding("r3-1", 60), 66),
        ({"status": 200, "state": "CD"}, "r3-1", left, None),
        ({"status": 200, "state": "SD"}, "r3-1", closed, None),
        (
            bad | {"status": 400, "state": "PR"},
            None,
            "malformed request (refused by haproxy)",
            None,
        ),
        (bad | {"status": 408, "state": "cR"}, None, "request head not received in time", None),
        ({"status": -1, "state": "CH", "length": None}, "r3-1", left, 0),
    ]
    for fields, replica, why, size in cases:
        found = entry(**fields)
        written = json_line(log, found, None if found.logged.server is None else 3)
        assert (written["replica"], written["error"], written["bytes"]) == (replica, why, size), (
            fields
        )
    assert json_line(log, entry(status=-1, state="CH"), 3)["status"] is None


def test_body_bytes_where_haproxy_lets_them_be_known() -> None:
    assert body_bytes(entry(length=5), 60) == 5
    assert body_bytes(entry(length=None), 60) is None  # chunked or close-delimited
    assert body_bytes(entry(method=b"HEAD", length=5), 60) == 0
    assert body_bytes(entry(status=304, length=5), 60) == 0
    assert body_bytes(entry(status=200, state="SD", length=5), 60) is None  # cut short
    assert body_bytes(entry(method=b"HEAD", status=503, state="SC"), 60) == 0
    assert answered_by_haproxy(entry(status=503, state="SC"))
    assert not answered_by_haproxy(entry(status=200, state="CD"))
    assert error(entry(), 60) is None


def test_lines_wait_for_their_batch_then_go_to_the_file_together(tmp_path: Path) -> None:
    scheduled: list[tuple[float, object]] = []
    path = tmp_path / "access.log"
    log = HaproxyAccessLog(str(path), False, 60.0, lambda d, f: scheduled.append((d, f)))
    log.add(entry(), 3)
    log.add(entry(path=b"/b"), 3)
    assert len(scheduled) == 1
    assert not path.exists()
    log.flush()
    assert [json.loads(t)["path"] for t in path.read_text().splitlines()] == ["/items", "/b"]
    # the time is HAProxy's, from the line: not when the agent read it
    assert json.loads(path.read_text().splitlines()[0])["time"] == "2026-12-07T10:00:00.123Z"
    for _ in range(1024):
        log.add(entry(), None)
    assert log.written == 2 + 1024  # a full batch is written at once
    log.add(entry(), 3)
    log.close()
    assert len(path.read_text().splitlines()) == 2 + 1024 + 1
    assert path.stat().st_mode & 0o777 == 0o600


def test_error_pages_are_complete_responses_in_the_builtins_words(tmp_path: Path) -> None:
    for status in errorpages.STATUSES:
        page = errorpages.page(status, 2.5)
        head, _, body = page.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.0 %d %s" % (status, REASONS[status].encode())
        assert b"Content-Type: text/plain; charset=utf-8" in lines
        assert b"Content-Length: %d" % len(body) in lines
        assert body == error_body(status, errorpages.detail(status, 2.5))
    assert errorpages.body(503, 1) == error_body(503, NO_REPLICA)
    assert errorpages.body(504, 2.5).endswith(b"upstream did not start responding within 2.5s\n")
    errorpages.write(tmp_path / "pages", 2.5)
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == [
        "502.http",
        "503.http",
        "504.http",
    ]
    assert (tmp_path / "pages" / "504.http").read_bytes() == errorpages.page(504, 2.5)


def test_the_configuration_asks_for_the_long_lines_and_the_pages() -> None:
    base = Settings(listen_fd=3, stats_socket="/s/stats.sock", log_socket="/s/log.sock")
    short = render(base)
    assert 'log-format "%s %ST %Ta %ts"' in short
    assert "errorfile" not in short
    assert "txn.log_path" not in short
    on = render(
        Settings(
            listen_fd=3,
            stats_socket="/s/stats.sock",
            log_socket="/s/log.sock",
            log_sample=10,
            access_log=True,
            error_pages="/e",
        )
    )
    assert f'    log-format "{logline.ACCESS_FORMAT}"' in on.splitlines()
    assert "    log ring@changeover_log len 65535 local0 info" in on.splitlines()  # no sample
    assert "    maxlen 65535" in on.splitlines()  # lines as long as HAProxy sends
    assert "    http-request set-var(txn.log_path) url,field(1,?)" in on.splitlines()
    assert "    http-response set-var(txn.log_length) res.hdr(content-length)" in on.splitlines()
    for code in (502, 503, 504):
        assert f"    errorfile {code} /e/{code}.http" in on.splitlines()
    with_query = render(
        Settings(
            listen_fd=3,
            stats_socket="/s/stats.sock",
            log_socket="/s/log.sock",
            access_log=True,
            access_log_query=True,
        )
    )
    assert "    http-request set-var(txn.log_path) url" in with_query.splitlines()


def frame(line: bytes) -> bytes:
    return b"%d %s" % (len(line), line)


@given(
    st.lists(st.binary(min_size=1, max_size=300), max_size=20),
    st.lists(st.integers(0, 7000), max_size=10),
)
def test_frames_cut_anywhere_give_the_lines_back_whole(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(line) for line in lines)
    frames = logline.Frames()
    got: list[bytes] = []
    at = 0
    for cut in sorted(c for c in cuts if c <= len(stream)):
        got += frames.feed(stream[at:cut])
        at = cut
    got += frames.feed(stream[at:])
    assert got == lines
    assert frames.pending == 0


def test_frames_refuse_what_is_not_octet_counted() -> None:
    for bad in (b"abc def", b"012 x", b"-1 x", b"1234567", b"70000 x", b"\xd9\xa1 x"):
        with pytest.raises(logline.FramingError):
            logline.Frames().feed(bad)
    frames = logline.Frames()
    assert frames.feed(b"13 r1-1 200 0 --1") == [b"r1-1 200 0 --"]
    assert frames.pending == 1  # a length's first digit: the rest is to come
