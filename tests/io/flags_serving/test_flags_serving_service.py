"""FlagService on the real store: the served document, ETag, 304, long-poll, audited changes."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest

from changeover.agent.events import EventLog
from changeover.agent.flags import FlagService
from changeover.agent.releases import BadRequest
from changeover.flags import parse_state
from changeover.store import NotFound, Store

from ._helpers import rollout_flag, run

NOW = 1_760_000_000.0  # 2025-10-09, the service's wall clock
BY = "ann@box"


@pytest.fixture
def service(store: Store) -> FlagService:
    return FlagService(store, EventLog(store, wall=lambda: NOW), wall=lambda: NOW)


def flag_events(store: Store) -> list[str]:
    return [e.message for e in store.events() if e.kind == "flags"]


def refusal(call: Any, *args: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(BadRequest) as exc:
        call(*args, **kwargs)
    return exc.value.lines


# --- the document and its ETag -------------------------------------------------------------
def test_the_etag_is_strong_derived_from_the_body_and_stable(
    store: Store, service: FlagService
) -> None:
    empty = service.etag
    service.put(rollout_flag(), by=BY, source="f.toml")
    assert service.etag == f'"{hashlib.sha256(service.body).hexdigest()}"'
    assert not service.etag.startswith("W/")
    assert service.etag != empty
    again = FlagService(store, EventLog(store))  # same rows, a new process: same bytes
    assert (again.body, again.etag) == (service.body, service.etag)
    doc = json.loads(service.body)
    assert doc["version"] == 2
    assert doc["features"][0]["strategies"][0]["parameters"]["rollout"] == "10"
    parse_state(service.body, strict=True)  # what is served always passes strict checks


@pytest.mark.parametrize("header", ["{etag}", "W/{etag}", '"x", {etag}', "*"])
def test_a_matching_if_none_match_is_304(service: FlagService, header: str) -> None:
    status, body, etag = run(service.answer(header.format(etag=service.etag), 0))
    assert (status, body, etag) == (304, b"", service.etag)


@pytest.mark.parametrize("header", [None, '"other"', ""])
def test_otherwise_the_whole_document_is_200(service: FlagService, header: str | None) -> None:
    assert run(service.answer(header, 0)) == (200, service.body, service.etag)


def test_a_long_poll_is_woken_by_a_change(service: FlagService) -> None:
    async def scenario() -> tuple[tuple[int, bytes, str], int]:
        before = service.generation
        poll = asyncio.create_task(service.answer(service.etag, 30.0))
        for _ in range(20):  # let it start waiting; counted in loop turns, not seconds
            await asyncio.sleep(0)
        assert not poll.done()
        service.put(rollout_flag(), by=BY, source="f.toml")
        return await poll, service.generation - before

    (status, body, etag), bumped = run(scenario())  # a 30 s wait inside a 20 s guard
    assert (status, body, etag, bumped) == (200, service.body, service.etag, 1)


def test_a_long_poll_without_change_ends_with_304(service: FlagService) -> None:
    assert run(service.answer(service.etag, 0.05)) == (304, b"", service.etag)


def test_a_stopping_agent_releases_long_polls_at_once(store: Store) -> None:
    async def scenario() -> tuple[int, bytes, str]:
        stopping = asyncio.Event()
        service = FlagService(store, EventLog(store), stopping=stopping)
        poll = asyncio.create_task(service.answer(service.etag, 30.0))
        await asyncio.sleep(0)
        stopping.set()
        return await poll

    assert run(scenario())[0] == 304


# --- changes and their audit events ---------------------------------------------------------
def test_set_creates_then_reports_only_real_changes(store: Store, service: FlagService) -> None:
    assert service.put(rollout_flag(owner="payments"), by=BY, source="f.toml") == [
        "ann@box created flag 'checkout': on, 10%"
    ]
    etag = service.etag
    assert service.put(rollout_flag(owner="payments"), by="bob", source="f.toml") == []
    assert service.etag == etag
    changed = service.put(rollout_flag(owner="web", enabled=False), by="bob", source="f.toml")
    assert changed == [
        'bob changed flag \'checkout\': enabled true -> false; owner "payments" -> "web"'
    ]
    assert flag_events(store) == [
        "ann@box created flag 'checkout': on, 10%",
        changed[0],
    ]
    assert [e.ts for e in store.events()] == [NOW, NOW]


def test_a_document_sets_flags_and_segments_together(store: Store, service: FlagService) -> None:
    segment = {
        "id": 3,
        "constraints": [{"contextName": "region", "operator": "IN", "values": ["eu"]}],
    }
    flag = {
        "name": "eu-only",
        "enabled": True,
        "strategies": [{"name": "default", "segments": [3]}],
    }
    doc = {"features": [flag, rollout_flag()], "segments": [segment]}
    assert service.put(doc, by=BY, source="all.json") == [
        "ann@box created flag 'eu-only': on, everyone (constrained)",
        "ann@box created flag 'checkout': on, 10%",
        "ann@box created segment 3",
    ]
    # a later file may refer to the stored segment
    other = {
        "name": "eu-too",
        "enabled": False,
        "strategies": [{"name": "default", "segments": [3]}],
    }
    service.put(other, by=BY, source="one.toml")
    served = json.loads(service.body)
    assert [f["name"] for f in served["features"]] == ["checkout", "eu-only", "eu-too"]
    assert served["segments"] == [segment]


def test_create_refuses_existing_names_archived_ones_too(service: FlagService) -> None:
    service.put({"features": [rollout_flag("a"), rollout_flag("b")]}, by=BY, source="f")
    service.archive("b", by=BY)
    doc = {"features": [rollout_flag("a"), rollout_flag("b"), rollout_flag("c")]}
    assert refusal(service.put, doc, by=BY, source="new.json", create=True) == [
        "new.json: flag 'a' already exists; change it with `changeover flags set`",
        "new.json: flag 'b' already exists; change it with `changeover flags set`",
    ]
    assert [f["name"] for f in json.loads(service.body)["features"]] == ["a"]  # no "c"


def test_bad_files_get_every_problem_with_its_path(service: FlagService) -> None:
    lone: dict[str, Any] = {
        "name": "x",
        "enabled": "yes",
        "strategies": [{"name": "flexibleRollout", "colour": 1}],
    }
    assert refusal(service.put, lone, by=BY, source="x.toml") == [
        "x.toml: enabled: input should be a valid boolean (got 'yes')",
    ]
    lone["enabled"] = True
    assert refusal(service.put, lone, by=BY, source="x.toml") == [
        "x.toml: strategies[0].colour: unknown key; expected one of: name, parameters, "
        "constraints, segments, variants",
        "x.toml: strategies[0].parameters.rollout: required: a whole percentage from 0 to 100",
    ]
    doc = {
        "features": [
            rollout_flag(),
            {"name": "y", "enabled": True, "strategies": [{"name": "default", "segments": [9]}]},
        ]
    }
    assert refusal(service.put, doc, by=BY, source="d.json") == [
        "d.json: features[1].strategies[0].segments[0]: no segment with id 9",
    ]
    assert refusal(service.put, {"enabled": True}, by=BY, source="e.toml") == [
        "e.toml: (document): expected one flag (with `name` and `enabled`) or a document "
        "with `features` and/or `segments`"
    ]
    assert refusal(service.put, {"features": []}, by=BY, source="e.json") == [
        "e.json: (document): no flags or segments in it"
    ]
    assert json.loads(service.body)["features"] == []


def test_enable_and_disable_say_old_and_new(store: Store, service: FlagService) -> None:
    service.put(rollout_flag(enabled=False), by=BY, source="f")
    assert service.set_enabled("checkout", True, by="bob") == (
        "bob changed flag 'checkout': enabled false -> true"
    )
    assert service.set_enabled("checkout", True, by="bob") == "flag 'checkout' is already enabled"
    assert service.set_enabled("checkout", False, by="cid").endswith("enabled true -> false")
    assert len(flag_events(store)) == 3  # created, enabled, disabled: no event for a no-op
    assert store.flag("checkout").updated_by == "cid"


def test_rollout_changes_the_one_flexible_rollout_and_keeps_its_parameters(
    service: FlagService,
) -> None:
    service.put(rollout_flag(), by=BY, source="f")
    assert service.set_rollout("checkout", 50, by="bob") == (
        "bob changed flag 'checkout': rollout 10% -> 50%"
    )
    strategy = json.loads(service.body)["features"][0]["strategies"][0]
    assert strategy["parameters"] == {"rollout": "50", "stickiness": "userId"}
    assert (
        service.set_rollout("checkout", 50, by="bob") == "flag 'checkout' already rolls out to 50%"
    )


def test_rollout_refuses_flags_with_none_or_several(service: FlagService) -> None:
    two = rollout_flag("two")
    two["strategies"] = two["strategies"] * 2
    service.put({"features": [{"name": "plain", "enabled": True}, two]}, by=BY, source="f")
    assert refusal(service.set_rollout, "plain", 5, by=BY) == [
        "flag 'plain': `rollout` changes exactly one flexibleRollout strategy, and this flag "
        "has none; edit its definition and use `changeover flags set`"
    ]
    assert (
        "2 flexibleRollout strategies (strategies[0], strategies[1])"
        in (refusal(service.set_rollout, "two", 5, by=BY)[0])
    )
    with pytest.raises(NotFound):
        service.set_rollout("missing", 5, by=BY)


def test_archive_stops_serving_and_set_brings_the_flag_back(
    store: Store, service: FlagService
) -> None:
    service.put(rollout_flag(), by=BY, source="f")
    assert service.archive("checkout", by="bob") == "bob archived flag 'checkout' (was on, 10%)"
    assert json.loads(service.body)["features"] == []
    assert refusal(service.set_enabled, "checkout", False, by=BY) == [
        "flag 'checkout' is archived; bring it back with `changeover flags set`"
    ]
    assert service.put(rollout_flag(), by="cid", source="f") == [
        "cid restored flag 'checkout' from the archive: on, 10%"
    ]
    assert [r["name"] for r in service.records()] == ["checkout"]


def test_a_flag_others_depend_on_cannot_be_archived(service: FlagService) -> None:
    child = {"name": "child", "enabled": True, "dependencies": [{"feature": "parent"}]}
    service.put({"features": [{"name": "parent", "enabled": True}, child]}, by=BY, source="f")
    assert refusal(service.archive, "parent", by=BY) == [
        "archiving flag 'parent': features['child'].dependencies[0].feature: no flag named "
        "'parent'; this flag stays off"
    ]
    assert len(json.loads(service.body)["features"]) == 2


# --- lifecycle: records and stale flags -----------------------------------------------------
def test_records_carry_owner_expiry_and_why_a_flag_is_stale(service: FlagService) -> None:
    flags = [
        rollout_flag("expired", owner="web", expires_at="2020-01-01"),
        rollout_flag("full", percent=100),
        {"name": "on", "enabled": True},
        rollout_flag("later", expiresAt="2999-01-01T00:00:00Z"),
        rollout_flag("off-full", percent=100, enabled=False),
        {**rollout_flag("varied", percent=100), "variants": [{"name": "a", "weight": 1000}]},
        {
            "name": "who",
            "enabled": True,
            "strategies": [{"name": "userWithId", "parameters": {"userIds": "1"}}],
        },
    ]
    service.put({"features": flags}, by=BY, source="f")
    records = {r["name"]: r for r in service.records()}
    assert {name: r["stale"] for name, r in records.items()} == {
        "expired": ["expired 2020-01-01T00:00:00"],
        "full": ["fully rolled out: on for everyone"],
        "later": [],
        "off-full": [],
        "on": ["fully rolled out: on for everyone"],
        "varied": [],
        "who": [],
    }
    expired = records["expired"]
    assert (expired["owner"], expired["expires_at"], expired["rollout"]) == (
        "web",
        "2020-01-01T00:00:00",
        "10%",
    )
    assert (expired["created_by"], expired["updated_at"]) == (BY, NOW)
    assert records["who"]["rollout"] == "userWithId"
    assert service.record("on")["definition"] == {"name": "on", "enabled": True}


def test_a_misspelt_top_level_key_is_named_not_ignored(service: FlagService) -> None:
    doc = {"segments": [{"id": 1}], "feature": [rollout_flag()]}
    assert refusal(service.put, doc, by=BY, source="d.toml") == [
        "d.toml: feature: unknown key; expected one of: version, features, segments"
    ]
    assert json.loads(service.body)["segments"] == []
