"""Object names and labels from `app.name`.

Invariant: every name is a valid DNS-1035 label (lowercase letters, digits and '-',
starting with a letter, at most 63 characters) even with the longest suffix added, and
every object of one service carries the same `app.kubernetes.io/name` label, which the
selectors match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LONGEST_SUFFIX = "-secrets"  # also "-preview", "-canary", "-flags"
NAME_LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Names:
    base: str
    environment: str | None = None

    @classmethod
    def of(cls, app_name: str, environment: str | None = None) -> Names:
        return cls(dns_label(app_name), environment)

    def suffixed(self, suffix: str) -> str:
        return f"{self.base}-{suffix}"

    @property
    def selector(self) -> dict[str, str]:
        return {NAME_LABEL: self.base}

    @property
    def labels(self) -> dict[str, str]:
        labels = {**self.selector, "app.kubernetes.io/managed-by": "changeover"}
        if self.environment is not None:
            labels["changeover.dev/environment"] = self.environment
        return labels


def dns_label(name: str) -> str:
    """`Hello_API.v2` -> `hello-api-v2`: what Kubernetes accepts as an object name."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not text or not text[0].isalpha():
        text = f"app-{text}".rstrip("-")
    limit = 63 - len(LONGEST_SUFFIX)
    return text[:limit].rstrip("-")
