"""How one agent's HAProxy stops, as runtime API commands and pure readings (no IO).

Invariant: a stop never fails a request a client has sent. Two ways, by who serves next:
- a reload (another agent's HAProxy accepts on the same public socket already): a soft
  stop at once (SIGUSR1): this HAProxy accepts nothing more, requests in flight finish,
  and `option idle-close-on-response` (rendered by `config`) keeps each idle keep-alive
  connection until its client's next request, answered with `Connection: close`, so the
  client reconnects (to the new HAProxy) instead of sending into a connection closed under
  it; `hard-stop-after` bounds a connection that stays idle;
- `down` (nobody serves next): `disable frontend` (it accepts nothing more; connections
  wait in the backlog, to be refused when the agent closes the socket), then the streams
  of the frontend (`show sess`: a request being read, forwarded or answered; an idle
  keep-alive connection has none) are counted until none is left or the drain deadline,
  then HAProxy is stopped and its idle connections close, as the builtin proxy's do.
"""

from __future__ import annotations

from changeover.haproxy.config import FRONTEND
from changeover.haproxy.runtime import Command, checked_name


def disable_frontend(frontend: str = FRONTEND) -> Command:
    """Stop accepting: HAProxy no longer polls the listener (its socket stays open)."""
    return Command(f"disable frontend {checked_name('frontend', frontend)}", _silent)


def show_sess() -> Command:
    """Every stream, one line each (`0x... : proto=tcpv4 src=... fe=public be=...`)."""
    return Command("show sess", lambda text: True)


def streams(answer: str, frontend: str = FRONTEND) -> int:
    """The streams of `frontend` in a `show sess` answer (the CLI's own is `fe=GLOBAL`)."""
    wanted = f"fe={frontend}"
    return sum(1 for line in answer.splitlines() if wanted in line.split())


def _silent(text: str) -> bool:
    return text.strip() == ""


__all__ = ["disable_frontend", "show_sess", "streams"]
