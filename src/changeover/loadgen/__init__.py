"""Load generator: drives one URL at a fixed rate over keep-alive connections, never
retries, and classifies every request into exactly one outcome.

Invariant kept by the package: after a run, `report.sent == report.ok + report.failed`;
no request is retried, hidden or dropped from the tally.
"""

from changeover.loadgen.background import BackgroundLoad
from changeover.loadgen.generator import LoadGenerator, run
from changeover.loadgen.outcome import Outcome
from changeover.loadgen.report import FailureRecord, Report
from changeover.loadgen.target import Target, parse_url
from changeover.loadgen.template import Template

__all__ = [
    "BackgroundLoad",
    "FailureRecord",
    "LoadGenerator",
    "Outcome",
    "Report",
    "Target",
    "Template",
    "parse_url",
    "run",
]
