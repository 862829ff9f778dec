"""The `changeover` program's entry point.

Invariant: `changeover [-E NAME] dial [-f FILE] [--state-dir DIR]` is served by
`cli.splice` without importing the CLI's commands (typer, rich, pydantic, the agent, the
proxy): ssh starts it on a remote environment's host for every command run on that
environment. Every other command line goes to the typer app, `cli.commands`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from changeover.cli import splice

if TYPE_CHECKING:
    from changeover.cli.commands import app

__all__ = ["app", "main"]


def main() -> None:
    dial = splice.parse_argv(sys.argv[1:], os.environ)
    if dial is not None:
        sys.exit(splice.dial(dial.file, dial.state_dir, dial.environment))
    from changeover.cli.commands import main as run

    run()


def __getattr__(name: str) -> Any:
    """`app`, the typer app, loads on first use (so that `main` can serve `dial` without)."""
    if name == "app":
        from changeover.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
