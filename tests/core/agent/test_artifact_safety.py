"""Which artifact members may be unpacked: everything must land and stay inside the
release folder, links included (followed through each other as the kernel would)."""

from __future__ import annotations

import pytest

from changeover.agent.artifact_safety import Limits, Member, problems, resolve


def f(name: str, size: int = 1) -> Member:
    return Member(name, "file", size)


def link(name: str, target: str) -> Member:
    return Member(name, "symlink", 0, target)


def test_a_plain_tree_with_inner_links_passes() -> None:
    members = [
        Member("pkg/", "dir"),
        f("pkg/app.py"),
        f("changeover.toml"),
        link("current", "pkg/app.py"),
        link("pkg/up", ".."),  # the release folder itself: inside
        link("pkg/sibling", "../changeover.toml"),
        link("dangling", "pkg/not-yet"),
    ]
    assert problems(members) == []


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (f("/etc/cron.d/x"), "an absolute path"),
        (f("../x"), "'..' step"),
        (f("a/../../x"), "'..' step"),
        (f("a//b"), "an empty"),
        (f("./a"), "'.'"),
        (f(""), "an absolute path"),
        (f("a\\..\\b"), "a backslash"),
        (Member("hard", "hardlink", 0, "app.py"), "a hard link"),
        (Member("dev/null", "other"), "a device, fifo"),
        (link("out", "/etc/passwd"), "an absolute or empty target"),
        (link("out", "../../etc"), "leads outside the release folder"),
        (link("a/out", "../.."), "leads outside the release folder"),
        (link("empty", ""), "an absolute or empty target"),
    ],
)
def test_unsafe_members_are_refused_naming_the_member_and_why(member: Member, why: str) -> None:
    found = problems([f("app.py"), member])
    assert len(found) == 1
    assert found[0].startswith(f"{member.name!r}: ")
    assert why in found[0]


def test_a_link_chain_that_leaves_through_another_link_is_refused() -> None:
    # d/s -> .. is the release folder (inside); but d/s/../.. from there is its parent,
    # which a lexical check of "d/s/../.." (= ".") would miss
    members = [Member("d/", "dir"), link("d/s", ".."), link("u", "d/s/../..")]
    assert problems(members) == [
        "'u': a link to 'd/s/../..', which leads outside the release folder"
    ]


def test_links_that_loop_are_refused() -> None:
    found = problems([link("a", "b"), link("b", "a")])
    assert [line.split(":")[0] for line in found] == ["'a'", "'b'"]


def test_nothing_may_be_written_through_a_file_or_a_link() -> None:
    found = problems([f("conf"), f("conf/x"), link("lib", "pkg"), f("lib/evil.py")])
    assert found == [
        "'conf/x': lies under 'conf', which is a file",
        "'lib/evil.py': lies under 'lib', which is a link",
    ]


def test_a_name_twice_is_refused() -> None:
    assert problems([f("a"), f("a")]) == ["'a': appears twice"]


def test_limits_on_count_and_unpacked_size() -> None:
    limits = Limits(artifact_bytes=10, unpacked_bytes=100, files=2)
    assert problems([f("a", 50), f("b", 50)], limits) == []
    found = problems([f("a", 60), f("b", 50), f("c", 0)], limits)
    assert found == [
        "3 members, more than the 2 allowed",
        "110 bytes unpacked, more than the 100 allowed",
    ]


@pytest.mark.parametrize(
    ("steps", "links", "lands"),
    [
        (["a", "b"], {}, ["a", "b"]),
        (["a", "..", "b"], {}, ["b"]),
        ([".."], {}, None),
        (["l", "x"], {"l": "a/b"}, ["a", "b", "x"]),
        (["l", ".."], {"l": "a/b"}, ["a"]),  # physical: the link's target's parent
        (["l"], {"l": "/abs"}, None),
        (["l"], {"l": "l"}, None),
    ],
)
def test_resolve_follows_links_as_the_kernel_does(
    steps: list[str], links: dict[str, str], lands: list[str] | None
) -> None:
    assert resolve(steps, links) == lands
