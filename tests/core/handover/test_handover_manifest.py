"""The handover manifest: round trip and clear errors; adoption decisions."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.agent.manifest import Entry, Manifest, ManifestError, dump, parse
from changeover.supervisor.adopt import Observed, Verdict, decide

entries = st.builds(
    Entry,
    id=st.builds(lambda r, n: f"r{r}-{n}", st.integers(1, 999), st.integers(1, 999)),
    revision=st.integers(1, 999),
    pid=st.none() | st.integers(1, 2**22),
    create_time=st.floats(0, 2e9, allow_nan=False),
    port=st.integers(0, 65535),
    fd=st.none() | st.integers(3, 1000),
    ready=st.booleans(),
)
manifests = st.builds(
    Manifest,
    old_pid=st.integers(1, 2**22),
    public_fd=st.integers(3, 1000),
    control_fd=st.integers(3, 1000),
    lock_fd=st.integers(3, 1000),
    replicas=st.lists(entries, max_size=5).map(tuple),
    listen=st.none() | st.sampled_from(["127.0.0.1:8080", "[::1]:0"]),
    generation=st.integers(0, 10**6),
)


@given(manifests)
def test_round_trip(manifest: Manifest) -> None:
    assert parse(dump(manifest)) == manifest


def test_fds_lists_every_inherited_socket() -> None:
    entry = Entry("r1-1", 1, 10, 1.0, 8000, 9, True)
    port_mode = Entry("r1-2", 1, 11, 1.0, 8001, None, True)
    assert Manifest(1, 3, 4, 5, (entry, port_mode)).fds() == [3, 4, 5, 9]


def test_an_older_agent_without_address_or_generation_is_read_as_generation_0() -> None:
    doc = json.loads(_doc())
    assert (parse(json.dumps(doc)).listen, parse(json.dumps(doc)).generation) == (None, 0)
    with pytest.raises(ManifestError, match="listen: expected a string"):
        parse(json.dumps(doc | {"listen": 8080}))
    with pytest.raises(ManifestError, match="generation: expected an integer >= 0"):
        parse(json.dumps(doc | {"generation": -1}))


def _doc(**replica: object) -> str:
    item = {"id": "r1-1", "revision": 1, "pid": 10, "create_time": 1.5, "port": 80}
    item |= {"fd": 7, "ready": True} | replica
    doc = {"version": 1, "old_pid": 1, "public_fd": 3, "control_fd": 4, "lock_fd": 5}
    return json.dumps(doc | {"replicas": [item]})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{", "not JSON"),
        ("[]", "document: expected an object"),
        ('{"version": 9}', "version: expected 1"),
        (_doc(id="x1"), "replicas[0].id: expected r<revision>-<n>"),
        (_doc(port=-1), "replicas[0].port: expected an integer >= 0"),
        (_doc(ready="yes"), "replicas[0].ready: expected true or false"),
        (_doc(create_time="now"), "replicas[0].create_time: expected a number"),
        (_doc(pid=True), "replicas[0].pid: expected an integer"),
    ],
)
def test_bad_manifest_says_where_and_what(text: str, where: str) -> None:
    with pytest.raises(ManifestError, match="handover manifest") as info:
        parse(text)
    assert where in str(info.value)


def test_adopt_only_the_recorded_live_process() -> None:
    assert decide(100.0, Observed(100.4, zombie=False)) is Verdict.ADOPT
    assert decide(100.0, Observed(250.0, zombie=False)) is Verdict.REUSED
    assert decide(100.0, Observed(100.0, zombie=True)) is Verdict.GONE
    assert decide(100.0, None) is Verdict.GONE
