"""The flags listener's token-file fixture, shared with its io tests."""

from tests.io.flags_net.conftest import token_file

__all__ = ["token_file"]
