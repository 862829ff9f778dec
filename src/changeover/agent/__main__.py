"""`python -m changeover.agent`: the detached agent process started by `changeover up -d`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from changeover.agent.main import AgentOptions, run_agent
from changeover.agent.paths import StatePaths
from changeover.spec.load import SpecError, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="changeover-agent")
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--version", default="v1")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    environment = os.environ.get("CHANGEOVER_ENVIRONMENT") or None  # set by `-E` (or by hand)
    try:
        spec = load_spec(args.spec, environment)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    paths = StatePaths.resolve(args.state_dir, args.spec)
    options = AgentOptions(
        spec=spec,
        environment=environment,
        spec_path=args.spec.resolve(),
        paths=paths,
        version=args.version,
        on_ready=lambda url, rev, ver: logging.getLogger("changeover.agent").info(
            "ready: revision %d (%s) serving on %s", rev, ver, url
        ),
    )
    return run_agent(options)


if __name__ == "__main__":
    sys.exit(main())
