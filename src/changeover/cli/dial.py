"""`changeover dial`: this machine's agent of the selected environment on stdin/stdout.

Invariant: the work is `cli.splice.dial`, which `cli.app.main` also calls directly for
the usual command line without loading this module; here typer reads `--help` and
unusual spellings, and both ways do the same.
"""

from __future__ import annotations

import typer

from changeover.cli import splice
from changeover.cli.common import DEFAULT_SPEC, SpecFile, StateDir, environment


def dial(file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None) -> None:
    """Connect stdin and stdout to the control socket of this machine's agent and copy
    bytes both ways until either side closes; exit 3 if no agent answers. This is what
    the CLI runs on a remote environment's host, over ssh, to reach its agent."""
    raise typer.Exit(splice.dial(file, state_dir, environment()))
