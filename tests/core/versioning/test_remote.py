"""Remote URLs to web addresses for commit links."""

from __future__ import annotations

import pytest

from changeover.versioning.remote import commit_url, web_url


@pytest.mark.parametrize(
    ("remote", "web"),
    [
        ("https://github.com/acme/shop.git", "https://github.com/acme/shop"),
        ("https://github.com/acme/shop", "https://github.com/acme/shop"),
        ("https://github.com/acme/shop/", "https://github.com/acme/shop"),
        ("git@github.com:acme/shop.git", "https://github.com/acme/shop"),
        ("git@gitlab.com:group/sub/shop.git", "https://gitlab.com/group/sub/shop"),
        ("gitea.example.org:acme/shop", "https://gitea.example.org/acme/shop"),
        ("ssh://git@gitlab.example.org:2222/acme/shop.git", "https://gitlab.example.org/acme/shop"),
        ("git://git.example.org/acme/shop.git", "https://git.example.org/acme/shop"),
        ("http://gitea.lan:3000/acme/shop.git", "http://gitea.lan:3000/acme/shop"),
        ("https://GitHub.com/Acme/Shop.git", "https://github.com/Acme/Shop"),
        # credentials never reach the notes
        ("https://bot:s3cret@github.com/acme/shop.git", "https://github.com/acme/shop"),
        ("https://ghp_token@github.com/acme/shop", "https://github.com/acme/shop"),
    ],
)
def test_hosted_remotes(remote: str, web: str) -> None:
    assert web_url(remote) == web


@pytest.mark.parametrize(
    "remote",
    [
        "/srv/git/shop.git",
        "../shop",
        "./a:b/c",
        "file:///srv/git/shop.git",
        "C:/src/shop",
        "https://github.com/shop.git",  # no owner
        "",
    ],
)
def test_local_or_unknown_remotes_give_no_links(remote: str) -> None:
    assert web_url(remote) is None


def test_commit_url() -> None:
    assert commit_url("https://github.com/acme/shop/", "ab" * 20) == (
        f"https://github.com/acme/shop/commit/{'ab' * 20}"
    )
