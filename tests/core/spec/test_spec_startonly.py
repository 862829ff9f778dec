"""`spec.startonly`: the start-only keys a deployed spec changes, by name, in a stable order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.spec.models import Spec
from changeover.spec.startonly import (
    pending_message,
    pending_reload,
    reload_applies,
)

APP = {"name": "hello", "command": "uvicorn app:app --fd 3"}


def spec(**sections: Any) -> Spec:
    app = {**APP, **sections.pop("app", {})}
    return Spec.model_validate({"app": app, **sections})


BASE = spec()

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("nothing changed", {}, []),
    # what each revision holds: a deploy applies it, nothing waits
    (
        "per-revision keys",
        {
            "app": {"command": "gunicorn app:app", "replicas": 3, "env": {"A": "1"}},
            "probes": {"readiness": {"path": "/ready"}},
            "termination": {"drain_timeout": "5s"},
            "strategy": {"type": "canary", "preview_listen": "127.0.0.1:9999"},
            "notify": {"webhook": "http://127.0.0.1:1/hook"},
            "guard": {"window": "1m"},
            "releases": {"train": {"every": "2w", "first": "2026-01-05T10:00:00+01:00"}},
        },
        [],
    ),
    ("one proxy key", {"proxy": {"max_header_size": 32768}}, ["proxy.max_header_size"]),
    (
        "proxy keys in the model's order",
        {"proxy": {"tls": {"cert": "c.pem", "key": "k.pem"}, "listen": "127.0.0.1:9090"}},
        ["proxy.listen", "proxy.tls"],
    ),
    ("the engine", {"proxy": {"engine": "haproxy"}}, ["proxy.engine"]),
    (
        "the trusted proxies",
        {"proxy": {"trusted_proxies": ["10.0.0.0/8"]}},
        ["proxy.trusted_proxies"],
    ),
    ("the service name", {"app": {"name": "other"}}, ["app.name"]),
    ("log retention", {"logs": {"keep": 5}}, ["logs.keep"]),
    ("event retention", {"events": {"keep": 10}}, ["events.keep"]),
    ("release retention", {"releases": {"keep": 3}}, ["releases.keep"]),
    ("the ops listener", {"ops": {"listen": "127.0.0.1:0"}}, ["ops.listen"]),
    (
        "the flags listener",
        {"flags": {"listen": "127.0.0.1:0", "token_file": "t"}},
        ["flags.listen", "flags.token_file"],
    ),
    ("alert labels", {"guard": {"alert_labels": {"team": "a"}}}, ["guard.alert_labels"]),
    ("the control group", {"control": {"group": "root"}}, ["control.group"]),
    (
        "sections in a stable order",
        {
            "control": {"group": "root"},
            "ops": {"listen": "127.0.0.1:0"},
            "proxy": {"access_log": True},
            "app": {"name": "other"},
        },
        ["app.name", "proxy.access_log", "ops.listen", "control.group"],
    ),
]


@pytest.mark.parametrize(
    ("deployed", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_start_only_keys_a_deploy_changes(
    deployed: dict[str, Any], expected: list[str]
) -> None:
    assert pending_reload(BASE, spec(**deployed)) == expected
    assert pending_reload(spec(**deployed), BASE) == expected  # either way round


def test_the_gate_settings_count_only_for_the_agents_own_environment() -> None:
    deployed = spec(
        environments={
            "prod": {"approvals": 1, "spec": {"app": {"replicas": 2}}},
            "dev": {"soak": "1h"},
        }
    )
    assert pending_reload(BASE, deployed, "prod") == ["environments.prod.approvals"]
    assert pending_reload(BASE, deployed, "dev") == ["environments.dev.soak"]
    assert pending_reload(BASE, deployed, "staging") == []
    assert pending_reload(BASE, deployed) == []  # no -E: no environment's gates are read


def test_key_names_only_never_a_value() -> None:
    secret = "127.0.0.1:4711"
    keys = pending_reload(BASE, spec(ops={"listen": secret, "token_file": "ops-secret.token"}))
    assert keys == ["ops.listen", "ops.token_file"]
    text = pending_message(keys)
    assert "4711" not in text
    assert "ops-secret" not in text


def test_the_message_says_what_a_reload_applies_and_what_it_does_not() -> None:
    assert pending_message(["proxy.listen", "proxy.tls"]) == (
        "spec keys not applied until changeover reload: proxy.listen, proxy.tls"
    )
    assert reload_applies("proxy.engine")
    assert not reload_applies("control.group")
    assert pending_message(["logs.keep", "control.group"]) == (
        "spec keys not applied until changeover reload: logs.keep; spec keys not applied "
        "until changeover down and up: control.group (a reload keeps the control socket "
        "as it was bound)"
    )


PROXY_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "listen": st.sampled_from(["127.0.0.1:8080", "127.0.0.1:9090", "[::1]:8080"]),
        "max_header_size": st.integers(1024, 1048576),
        "max_headers": st.integers(1, 500),
        "access_log": st.booleans(),
        "engine": st.sampled_from(["builtin", "haproxy"]),
        "write_timeout": st.sampled_from(["1s", "30s", "2m"]),
    },
)


@given(PROXY_VALUES, PROXY_VALUES)
def test_exactly_the_proxy_fields_that_differ(a: dict[str, Any], b: dict[str, Any]) -> None:
    old, new = spec(proxy=a), spec(proxy=b)
    keys = pending_reload(old, new)
    differing = {
        f"proxy.{name}"
        for name in type(old.proxy).model_fields
        if getattr(old.proxy, name) != getattr(new.proxy, name)
    }
    assert set(keys) == differing
    assert len(keys) == len(set(keys))  # each key once
    assert keys == pending_reload(new, old)  # the order is the model's, not the input's
    assert pending_reload(old, old) == []
