"""The real programs some tests run (an OpenSSH server, Prometheus, ...): where they are.

Invariant: a test that needs a part either gets its path or does not run; outside CI a
missing part skips the test (make test installs parts when it runs as root), and in CI
(CI=true) it fails the test, so a missing part never passes silently.
"""

from __future__ import annotations

import glob
import os
import shutil

import pytest


def require(binary: str, package: str) -> str:
    """The path of `binary` (from Debian's `package`), else skip, or fail in CI."""
    # PostgreSQL's server programs are in /usr/lib/postgresql/<major>/bin, not on PATH
    postgres = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    path = ":".join(["/usr/sbin", "/sbin", "/usr/bin", *postgres])
    found = shutil.which(binary) or shutil.which(binary, path=path)
    if found:
        return found
    message = f"{binary} is missing: apt-get install {package} (make test does it as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
