"""The agent's spec-file fixture, shared with its io tests."""

from tests.io.agent.conftest import write_spec

__all__ = ["write_spec"]
