"""Which release verify deploys: the given one, or the stable one again."""

from __future__ import annotations

from typing import Any

import pytest

from changeover.verify.release import NothingToRedeploy, ReleaseOptions, deploy_body

HISTORY: dict[str, Any] = {
    "stable_revision": 2,
    "revisions": [
        {"revision": 3, "version": "v3", "status": "failed", "path": "/srv/new",
         "command": "broken", "env": {"A": "3"}},
        {"revision": 2, "version": "v2", "status": "stable", "path": "/srv/hello",
         "command": "uvicorn app:app --fd 3", "env": {"A": "2", "B": "b"}},
    ],
}  # fmt: skip


def test_a_given_version_is_sent_as_deploy_would_send_it() -> None:
    options = ReleaseOptions("v9", "/srv/v9", "run it", {"X": "1"}, "rolling")
    body, redeploy = deploy_body(options, "spec", "/srv/changeover.toml", HISTORY)
    assert redeploy is False
    assert body == {
        "version": "v9",
        "spec_text": "spec",
        "spec_path": "/srv/changeover.toml",
        "path": "/srv/v9",
        "command": "run it",
        "env": {"X": "1"},
        "strategy": "rolling",
    }


def test_without_a_version_the_stable_release_is_deployed_again() -> None:
    body, redeploy = deploy_body(ReleaseOptions(), "spec", "/s.toml", HISTORY)
    assert redeploy is True
    assert (body["version"], body["path"], body["command"], body["env"]) == (
        "v2",
        "/srv/hello",
        "uvicorn app:app --fd 3",
        {"A": "2", "B": "b"},
    )
    assert body["strategy"] is None


def test_options_given_with_a_redeploy_are_laid_over_the_stable_release() -> None:
    options = ReleaseOptions(path="/elsewhere", env={"B": "new", "C": "c"}, strategy="rolling")
    body, _ = deploy_body(options, "spec", "/s.toml", HISTORY)
    assert body["path"] == "/elsewhere"
    assert body["command"] == "uvicorn app:app --fd 3"
    assert body["env"] == {"A": "2", "B": "new", "C": "c"}
    assert body["strategy"] == "rolling"


def test_nothing_stable_means_nothing_to_redeploy() -> None:
    with pytest.raises(NothingToRedeploy, match="no stable revision to re-deploy"):
        deploy_body(ReleaseOptions(), "s", "/s.toml", {"stable_revision": None, "revisions": []})
    with pytest.raises(NothingToRedeploy, match="stable revision 2 but not its release"):
        deploy_body(ReleaseOptions(), "s", "/s.toml", {"stable_revision": 2, "revisions": []})


def test_a_redeploy_never_sends_a_secrets_digest_back_as_its_value() -> None:
    env = {"A": "2", "DATABASE_URL": "hmac-sha256:00ff00ff00ff00ff"}
    stable = {"revision": 2, "version": "v2", "path": "/p", "command": "run", "env": env}
    history = {"stable_revision": 2, "revisions": [stable]}
    body, _ = deploy_body(ReleaseOptions(), "spec", "/s.toml", history, ["DATABASE_URL"])
    assert body["env"] == {"A": "2"}  # the agent reads the secret from its source again
