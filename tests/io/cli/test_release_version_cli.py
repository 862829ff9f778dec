"""`release create` without --version, `release next`, `notes` and `train` on real git
repositories: the version from the commits, pre-releases, the changelog and the tag
written only once the release is kept, hotfixes on top of a given release, train
cut-offs, and every refusal exiting 2 with nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.io.cli.test_release_cli import cli

SPEC = """\
[app]
name = "svc"
command = "python app.py"

[environments.dev]
[environments.staging]
promote_from = "dev"
"""
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ann",
    "GIT_AUTHOR_EMAIL": "ann@example.org",
    "GIT_COMMITTER_NAME": "Ann",
    "GIT_COMMITTER_EMAIL": "ann@example.org",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {**GIT_ENV, "GIT_CEILING_DIRECTORIES": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CHANGEOVER_ENVIRONMENT", raising=False)
    monkeypatch.delenv("CHANGEOVER_STATE_DIR", raising=False)


def git(folder: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(folder: Path, message: str) -> str:
    git(folder, "commit", "-q", "--allow-empty", "-m", message)
    return git(folder, "rev-parse", "HEAD")


def service(folder: Path, spec: str = SPEC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "changeover.toml").write_text(spec)
    (folder / "app.py").write_text("print('hi')\n")
    (folder / ".gitignore").write_text(".changeover/\n")
    git(folder, "init", "-q", "-b", "main", ".")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "chore: start")
    git(folder, "remote", "add", "origin", "git@github.com:acme/shop.git")
    return folder / "changeover.toml"


def run(spec: Path, *args: str) -> tuple[int, str]:
    result = cli("release", *args, "-f", str(spec))
    return result.exit_code, result.output


def doc(spec: Path, *args: str) -> dict[str, Any]:
    code, output = run(spec, *args, "--json")
    assert code == 0, output
    found: dict[str, Any] = json.loads(output)
    return found


def releases(spec: Path) -> list[str]:
    return [r["version"] for r in doc(spec, "list")["releases"]]


def test_the_version_comes_from_the_commits_and_the_changelog_and_tag_follow(
    tmp_path: Path,
) -> None:
    spec = service(tmp_path)
    nothing = doc(spec, "next")
    assert (nothing["release"], nothing["reason"]) == (
        False,
        "nothing to release: no commit calls for a new version (chore bumps nothing); feat "
        "bumps the minor, fix and perf the patch, a breaking change the major",
    )
    code, said = run(spec, "create")
    assert code == 2  # nothing to release is bad input for create: nothing written
    assert "nothing to release: no commit calls for a new version" in said
    assert releases(spec) == []
    feat = commit(tmp_path, "feat(api): add order search")
    commit(tmp_path, "fix(cart): keep the coupon")
    ahead = doc(spec, "next")
    assert (ahead["version"], ahead["bump"], ahead["last"]) == ("0.1.0", "minor", None)
    assert [d["hash"] for d in ahead["drivers"]] == [feat]
    code, said = run(spec, "next")
    assert code == 0
    assert "next version: 0.1.0 (minor; last release: none)" in said
    assert f"{feat[:7]}  minor  feat" in said

    made = doc(spec, "create", "--tag", "--changelog", str(tmp_path / "CHANGELOG.md"))
    assert (made["version"], made["bump"], made["decided_by"], made["tag"]) == (
        "0.1.0", "minor", "commits", "v0.1.0",
    )  # fmt: skip
    assert made["decision"]["drivers"][0]["hash"] == feat
    changelog = (tmp_path / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n\n## 0.1.0 (")
    link = f"[{feat[:7]}](https://github.com/acme/shop/commit/{feat})"
    assert f"- **api:** add order search ({link})" in changelog
    assert git(tmp_path, "cat-file", "-t", "v0.1.0") == "tag"  # annotated
    assert "### Features" in git(tmp_path, "tag", "-l", "--format=%(contents)", "v0.1.0")
    assert git(tmp_path, "rev-list", "-n1", "v0.1.0") == made["commit"]

    git(tmp_path, "add", "CHANGELOG.md")
    commit(tmp_path, "docs: the changelog of 0.1.0")
    code, said = run(spec, "create", "--tag")
    assert code == 2
    assert "nothing to release: no commit since 0.1.0 calls for a new version" in said
    commit(tmp_path, "feat!: drop the v1 endpoints")
    below_one = doc(spec, "next")
    assert below_one["version"] == "0.2.0"  # 0.x: a breaking change bumps the minor
    assert any("below 1.0.0 a breaking change bumps the minor" in r for r in below_one["reasons"])
    assert doc(spec, "create", "--pre", "rc")["version"] == "0.2.0-rc.1"
    commit(tmp_path, "fix: a second candidate")
    assert doc(spec, "create", "--pre", "rc")["version"] == "0.2.0-rc.2"
    final = doc(spec, "create", "--tag")
    assert (final["version"], final["last"]) == ("0.2.0", "0.2.0-rc.2")
    code, said = run(spec, "create", "--bump", "major")
    assert (code, "a release carries at least one commit" in said) == (2, True)
    commit(tmp_path, "docs: ready for 1.0")
    assert doc(spec, "create", "--bump", "major")["version"] == "1.0.0"  # how 0.x ends
    assert releases(spec) == ["1.0.0", "0.2.0", "0.2.0-rc.2", "0.2.0-rc.1", "0.1.0"]

    notes = doc(spec, "notes", "0.2.0")
    assert notes["since"] == "0.1.0"  # a final release's notes gather its candidates'
    assert [c["kind"] for c in notes["changes"]] == ["fix", "breaking", "other"]
    assert [u["name"] for u in notes["unreachable"]] == ["dev", "staging"]
    assert notes["markdown"].startswith("## 0.2.0 (")
    assert "### Breaking changes\n- drop the v1 endpoints" in notes["markdown"]
    code, said = run(spec, "notes", "0.2.0")
    assert code == 0
    assert "dev: unreachable (no agent is running for" in said
    assert "### Fixes\n- a second candidate" in said


def test_refusals_write_nothing(tmp_path: Path) -> None:
    spec = service(tmp_path)
    commit(tmp_path, "fix: one")
    doc(spec, "create", "--tag")  # 0.0.1
    commit(tmp_path, "fix: two")
    git(tmp_path, "tag", "v0.0.2")  # someone tagged it by hand, no release record
    commit(tmp_path, "fix: three")
    cases = {
        ("create", "--version", "0.0.1"): "release 0.0.1 exists already (tag v0.0.1)",
        ("create", "--version", "0.0.0"): "is not greater than the last release 0.0.2",
        ("create", "--version", "banana"): "'banana' is not a semantic version",
        ("create", "--bump", "huge"): "--bump: expected a bump of major, minor or patch",
        ("create", "--version", "1.0.0", "--bump", "major"): "without --bump or --pre",
        ("create", "--pre", "1x"): "is not a pre-release label",
        ("create", "--force"): "--force cuts a train release before its cut-off",
        ("create", "--train"): "the spec has no release train",
        ("create", "--from", "0.0.1"): "--from names the release a hotfix fixes",
        ("create", "--hotfix", "--bump", "minor"): "a hotfix is a patch release",
        ("notes", "9.9.9"): "unknown release '9.9.9'",
    }
    for args, expected in cases.items():
        code, said = run(spec, *args)
        assert (code, expected in said) == (2, True), (args, said)
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## 0.0.3 (2026-01-01)\n")
    git(tmp_path, "add", "CHANGELOG.md")
    git(tmp_path, "commit", "-qm", "fix: four")
    code, said = run(spec, "create", "--changelog", str(tmp_path / "CHANGELOG.md"))
    assert code == 2
    assert "already has a section '## 0.0.3'" in said
    (tmp_path / "app.py").write_text("print('changed')\n")
    code, said = run(spec, "create", "--tag", "--allow-dirty")
    assert code == 2
    assert "--tag: 1 uncommitted change(s) (app.py): the tag would name a commit" in said
    code, said = run(spec, "create")  # dirty, and not allowed
    assert (code, "uncommitted changes (commit them, or pass --allow-dirty)" in said) == (2, True)
    assert releases(spec) == ["0.0.1"]
    assert git(tmp_path, "tag", "-l") == "v0.0.1\nv0.0.2"


def test_a_folder_outside_git_needs_its_version(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "changeover.toml").write_text(SPEC)
    (folder / "app.py").write_text("print('hi')\n")
    spec = folder / "changeover.toml"
    code, said = run(spec, "create")
    assert code == 2
    assert "without a commit history (no git repository) the next version cannot be" in said
    assert doc(spec, "create", "--version", "1.0.0")["source"] == "folder"
    assert doc(spec, "create", "--bump", "minor")["version"] == "1.1.0"  # from the record
    code, said = run(spec, "create", "--version", "1.2.0", "--tag")
    assert (code, "--tag: " in said, "is not in a git work tree" in said) == (2, True, True)
    notes = doc(spec, "notes", "1.1.0")
    assert (notes["history"], notes["changes"]) == (False, [])


def test_a_hotfix_is_a_patch_on_the_release_it_fixes(tmp_path: Path) -> None:
    spec = service(tmp_path)
    commit(tmp_path, "feat: one")
    doc(spec, "create", "--tag")  # 0.1.0, what production runs in this story
    commit(tmp_path, "feat: two")
    doc(spec, "create", "--tag")  # 0.2.0, on the main line
    commit(tmp_path, "fix: on main")
    code, said = run(spec, "create", "--hotfix", "--from", "0.1.0")
    assert code == 2
    assert "HEAD carries release 0.2.0, newer than 0.1.0" in said
    assert "git switch -c hotfix-0.1.1 v0.1.0" in said
    code, said = run(spec, "create", "--hotfix")  # production's agent is not running
    assert code == 3
    assert "--hotfix: cannot ask staging what it runs" in said
    git(tmp_path, "switch", "-q", "-c", "hotfix", "v0.1.0")
    fix = commit(tmp_path, "feat: urgent, though a feature")
    made = doc(spec, "create", "--hotfix", "--from", "v0.1.0", "--tag")
    assert (made["version"], made["hotfix"], made["hotfix_from"]) == ("0.1.1", True, "0.1.0")
    assert made["reasons"][0] == "hotfix: a patch on top of 0.1.0, not of the main line"
    notes = doc(spec, "notes", "0.1.1")
    assert (notes["hotfix"], notes["since"]) == (True, "0.1.0")
    assert [c["hash"] for c in notes["changes"]] == [fix]
    assert ", hotfix)" in notes["markdown"].split("\n")[0]


def train_spec(first: datetime) -> str:
    return SPEC + f'\n[releases]\ntrain = {{ every = "1w", first = "{first.isoformat()}" }}\n'


def test_a_train_release_waits_for_its_cut_off(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    early = service(tmp_path / "early", train_spec(now + timedelta(days=2)))
    commit(tmp_path / "early", "feat: on the train")
    code, said = run(early, "create", "--train")
    assert code == 2
    assert "--train: too early: the train's next cut-off is" in said
    assert releases(early) == []
    forced = doc(early, "create", "--train", "--force")
    assert forced["train"]["forced"] is True

    due = service(tmp_path / "due", train_spec(now - timedelta(days=1)))
    commit(tmp_path / "due", "fix: on the train")
    shown = doc(due, "train")
    assert shown["cut"]["allowed"] is True
    assert (shown["next"]["version"], shown["previous"]) == ("0.0.1", None)
    upcoming = datetime.fromisoformat(shown["cut"]["next_cutoff"])
    assert upcoming - datetime.fromisoformat(shown["previous_cutoff"]) == timedelta(weeks=1)
    assert upcoming > now
    cut = doc(due, "create", "--train")
    assert cut["train"]["cutoff"] == shown["previous_cutoff"]
    commit(tmp_path / "due", "fix: the next train")
    code, said = run(due, "create", "--train")  # this cut-off's train left already
    assert (code, "was cut already" in said) == (2, True)
    after = doc(due, "train")
    assert after["previous"]["version"] == "0.0.1"
    assert [e["name"] for e in after["previous"]["environments"]] == ["dev", "staging"]
    assert after["previous"]["environments"][0]["reachable"] is False
    code, said = run(due, "train")
    assert code == 0
    assert "previous train release: 0.0.1 (cut-off " in said
    assert "on the train:\n  next version: 0.0.2 (patch; last release: 0.0.1)" in said


def test_a_hotfix_asks_production_what_it_runs(tmp_path: Path) -> None:
    from changeover.cli.client import AgentClient
    from tests.io.agent._releases import serve_and_call

    spec = tmp_path / "host" / "changeover.toml"

    def use(client: AgentClient) -> tuple[int, str]:
        return run(spec, "next", "--hotfix")

    (code, said), _ = serve_and_call(
        tmp_path, use, state=tmp_path / "host" / ".changeover" / "staging"
    )
    # staging is the end of the chain; its stable revision is a plain deploy's "v1"
    assert code == 2
    assert "--hotfix: staging runs 'v1', not a release version; give --from V" in said
