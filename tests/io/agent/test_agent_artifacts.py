"""An agent receiving release artifacts: verified (size, sha256), checked member by member,
unpacked through a temporary folder and a rename; every refusal keeps nothing."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.requests import ClientDisconnect

from changeover.agent.artifact_format import entry_for, pack
from changeover.agent.artifact_safety import Limits
from changeover.agent.artifacts import ArtifactError, Artifacts, Held
from tests.helpers import bounded


def artifact(tmp_path: Path, app: str = "print('hi')\n") -> bytes:
    src = tmp_path / f"src-{hashlib.sha256(app.encode()).hexdigest()[:6]}"
    (src / "bin").mkdir(parents=True)
    (src / "app.py").write_text(app)
    (src / "bin" / "run").write_text("#!/bin/sh\n")
    (src / "bin" / "run").chmod(0o755)
    (src / "current").symlink_to("app.py")
    out = io.BytesIO()
    entries = [entry_for(src, n) for n in ("app.py", "bin/run", "current")]
    pack(src, [e for e in entries if e is not None], 1_763_700_000, out)
    return out.getvalue()


def crafted(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    """A gzipped tar written as given: what a hostile client could send."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def info(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def receive(
    store: Artifacts, data: bytes, version: str = "1.0.0", *, digest: str | None = None,
    size: int | None = None, body: AsyncIterator[bytes] | None = None,
) -> tuple[Held, bool]:  # fmt: skip
    declared = len(data) if size is None else size
    return bounded(store.receive(version, digest or sha(data), declared, body or chunks(data)))


def left(root: Path) -> list[str]:
    """What the releases folder holds, relative (empty folders included)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def refused(store: Artifacts, data: bytes, **kwargs: object) -> ArtifactError:
    with pytest.raises(ArtifactError) as caught:
        receive(store, data, **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.fixture
def store(tmp_path: Path) -> Artifacts:
    return Artifacts(tmp_path / "state" / "releases", wall=lambda: 1234.0)


def test_an_artifact_is_verified_unpacked_and_recorded(store: Artifacts, tmp_path: Path) -> None:
    data = artifact(tmp_path)
    held, new = receive(store, data)
    assert new
    assert held == Held("1.0.0", sha(data), len(data), 3, store.folder("1.0.0", sha(data)), 1234.0)
    assert held.path.name == f"1.0.0-{sha(data)[:12]}"
    assert (held.path / "app.py").read_text() == "print('hi')\n"
    assert (held.path / "bin" / "run").stat().st_mode & 0o111  # the executable bit kept
    assert (held.path / "current").readlink() == Path("app.py")
    assert store.held("1.0.0") == held
    assert json.loads((store.root / ".meta" / "1.0.0.json").read_text())["sha256"] == sha(data)
    assert not (store.root / ".incoming").exists()
    again, new = receive(store, data)  # the same bytes again: nothing to do
    assert (again, new) == (held, False)


def test_a_digest_mismatch_keeps_nothing_and_names_both_digests(
    store: Artifacts, tmp_path: Path
) -> None:
    data = artifact(tmp_path)
    wrong = "0" * 64
    error = refused(store, data, digest=wrong)
    assert error.status == 400
    assert sha(data) in error.lines[0]
    assert wrong in error.lines[0]
    assert left(store.root) == []
    assert store.held("1.0.0") is None


def test_a_truncated_or_longer_upload_keeps_nothing(store: Artifacts, tmp_path: Path) -> None:
    data = artifact(tmp_path)
    short = refused(store, data, size=len(data) + 10)
    assert short.lines[0].startswith(f"upload truncated: received {len(data)} of the")
    longer = refused(store, data, size=len(data) - 10)
    assert "more than the" in longer.lines[0]
    assert left(store.root) == []


def test_a_client_gone_mid_upload_keeps_nothing(store: Artifacts, tmp_path: Path) -> None:
    data = artifact(tmp_path)

    async def cut() -> AsyncIterator[bytes]:
        yield data[:100]
        raise ClientDisconnect  # what Starlette raises when the client goes

    with pytest.raises(ClientDisconnect):
        receive(store, data, body=cut())
    assert left(store.root) == []


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([(info("../evil"), b"x")], "'../evil': an empty, '.' or '..' step"),
        ([(info("/etc/evil"), b"x")], "'/etc/evil': an absolute path"),
        ([(info("out", tarfile.SYMTYPE, "/etc"), b"")], "'out': a link to '/etc'"),
        ([(info("out", tarfile.SYMTYPE, "../.."), b"")], "leads outside the release folder"),
        ([(info("hard", tarfile.LNKTYPE, "app.py"), b"")], "'hard': a hard link"),
        ([(info("dev", tarfile.CHRTYPE), b"")], "'dev': a device, fifo"),
        (
            [(info("lib", tarfile.SYMTYPE, "."), b""), (info("lib/x"), b"x")],
            "'lib/x': lies under 'lib', which is a link",
        ),
    ],
)
def test_unsafe_members_refuse_the_whole_artifact(
    store: Artifacts, members: list[tuple[tarfile.TarInfo, bytes]], why: str
) -> None:
    data = crafted((info("app.py"), b"ok"), *members)
    error = refused(store, data)
    assert error.status == 400
    assert error.lines[0] == "unsafe artifact, nothing unpacked:"
    assert any(why in line for line in error.lines[1:]), error.lines
    assert left(store.root) == []


def test_what_is_not_a_gzipped_tar_is_refused(store: Artifacts) -> None:
    error = refused(store, b"plain text, not an artifact")
    assert error.lines[0].startswith("not a gzipped tar")
    assert left(store.root) == []


def test_limits_on_upload_and_unpacked_size(tmp_path: Path) -> None:
    small = Artifacts(tmp_path / "releases", limits=Limits(artifact_bytes=100_000,
                      unpacked_bytes=10_000, files=10))  # fmt: skip
    bomb = crafted((info("zeros"), bytes(1_000_000)))  # a small gzip of a large file
    assert len(bomb) < 100_000
    error = refused(small, bomb)
    assert "bytes once unpacked" in error.lines[0] or "bytes unpacked" in " ".join(error.lines)
    assert refused(small, b"x" * 10, size=200_000).lines == [
        "size: expected 1 to 100000 bytes, got 200000"
    ]
    assert left(small.root) == []


def test_a_version_names_one_artifact(store: Artifacts, tmp_path: Path) -> None:
    first, other = artifact(tmp_path), artifact(tmp_path, app="print('other')\n")
    receive(store, first)
    error = refused(store, other)
    assert error.status == 409
    assert (
        error.lines[0] == f"version 1.0.0 is held here with sha256 {sha(first)}, not {sha(other)}"
    )
    held, _ = receive(store, other, version="1.0.1")  # under its own version it is fine
    assert held.path != store.folder("1.0.0", sha(first))


def test_bad_names_are_refused_before_reading(store: Artifacts) -> None:
    error = refused(store, b"x", version="../1", digest="XYZ")
    assert [line.split(":")[0] for line in error.lines] == ["version '../1'", "sha256"]


def test_what_a_killed_agent_left_is_replaced(store: Artifacts, tmp_path: Path) -> None:
    data = artifact(tmp_path)
    (store.root / ".incoming" / "tree").mkdir(parents=True)  # killed mid-unpack
    stale = store.folder("1.0.0", sha(data))
    stale.mkdir()  # renamed, then killed before its record: not held, replaced
    (stale / "partial").write_text("?")
    assert store.held("1.0.0") is None
    held, new = receive(store, data)
    assert new
    assert sorted(p.name for p in held.path.iterdir()) == ["app.py", "bin", "current"]
    assert not (store.root / ".incoming").exists()
