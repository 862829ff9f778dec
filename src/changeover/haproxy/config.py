"""The HAProxy configuration changeover runs, rendered from plain values (pure).

Invariant: the text depends only on `Settings` (no clock, no environment, no file), so a
test feeds settings and asserts the text. The configuration holds what no rollout
changes: listeners, timeouts, limits, header rewriting, retries, the log. Servers are
in it only as HAProxy starts (the replicas the agent has then, and their slot twins:
`haproxy.seed`): every replica is added, weighted, drained and removed at run time
through the runtime API (`runtime`, `plan`), so nothing a rollout does needs a reload.

What each part stands for in the builtin proxy (docs/haproxy.md):
- the public listener is the agent's own socket, inherited as `fd@N`: the address
  `proxy.listen` names (or systemd passed) is bound once, by the agent;
- `retry-on conn-failure empty-response`, `retries`, `option redispatch 1`: a request is
  retried, on another replica, only when the connection failed or closed before any
  byte of an answer came back;
- X-Forwarded-For (appended), X-Forwarded-Proto and X-Forwarded-Host (set; a peer in
  `trusted_proxies` keeps the ones it sent: `_forwarding`), and
  X-Request-Id (the client's first one kept, else `<prefix>-<worker pid>-<request
  number>` in hex: unique without a UUID per request, as the builtin's
  `<prefix>-<number>`; the response carries it too);
- the request log goes to the agent through a ring buffer forwarded over a unix stream
  socket (`_ring`), one line per request
  (with `log_sample` N > 1, one response of a replica in N, drawn at random; with
  `"auto"`, one in 2^level, the level in a map the agent changes at run time
  (`sampling`); and every answer HAProxy made itself):
  `<server> <status> <active ms> <termination state>`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from changeover.haproxy import errorpages, routes, sampling
from changeover.haproxy.logline import ACCESS_FORMAT, MAX_LINE, access_vars
from changeover.haproxy.runtime import MAX_WEIGHT, address, checked_name
from changeover.networks import parse_networks

FRONTEND = "public"
BACKEND = "replicas"
LOG_FORMAT = "%s %ST %Ta %ts"  # server, status, active time (ms), termination state
MAXREWRITE = 1024  # HAProxy's default reserve for header rewriting, inside tune.bufsize
MIN_BUFSIZE = 16384  # HAProxy's default buffer
LOG_RING = "changeover_log"
# Lines held while the agent does not read: about 4 s of a 35k requests/s access log, a
# minute or more of the sampled log; past it the oldest are lost, never the traffic.
RING_SIZE = 16 << 20


@dataclass(frozen=True)
class Settings:
    """Everything the configuration says. Times are in seconds."""

    listen_fd: int  # the agent's public listening socket, inherited by HAProxy
    stats_socket: str  # the runtime API (admin level, mode 0600)
    log_socket: str | None = None  # unix stream socket the agent listens on; None: no log
    map_dir: str | None = None  # the routing maps (haproxy/routes.py); None: weights only
    preview_fd: int | None = None  # socketpair end the preview connections come through
    # log one request in this many; "auto": in 2^level, the agent's choice (`sampling`)
    log_sample: int | Literal["auto"] = 1
    access_log: bool = False  # the long lines the access log needs (every request)
    access_log_query: bool = False  # its paths keep their query strings
    error_pages: str | None = None  # folder of changeover's 502/503/504 (`errorpages`)
    nbthread: int = 1
    connect_timeout: float = 5.0
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    response_timeout: float = 60.0
    write_timeout: float = 30.0
    upstream_idle_timeout: float = 1.0  # idle connections to replicas are purged after it
    stop_timeout: float = 30.0  # after a soft stop, in-flight requests get this long
    max_header_size: int = 16384  # the spec's default
    max_headers: int = 100
    forwarded_proto: str = "http"
    # peers whose X-Forwarded-Proto/-Host are kept (`networks` entries); none: the rules
    # are the ones without (their text, and their cost per request, unchanged)
    trusted_proxies: tuple[str, ...] = ()
    retries: int = 3
    tls_cert: str | None = None  # certificate chain + key, one PEM file (0600): TLS on
    # Random per agent: with the worker's pid and its request counter, ids stay unique
    # across HAProxy restarts and agents, at the cost of a counter (a UUID costs more).
    request_id_prefix: str = "0"

    def __post_init__(self) -> None:
        if isinstance(self.listen_fd, bool) or self.listen_fd < 0:
            raise ValueError(f"listen_fd must be a file descriptor, got {self.listen_fd!r}")
        preview = self.preview_fd
        if preview is not None and (
            isinstance(preview, bool) or preview < 0 or preview == self.listen_fd
        ):
            raise ValueError(f"preview_fd must be a file descriptor but listen_fd, got {preview!r}")
        for name in ("stats_socket", "log_socket", "map_dir", "tls_cert", "error_pages"):
            path = getattr(self, name)
            if path is not None and not re.fullmatch(r"/[A-Za-z0-9_./+-]+", path):
                raise ValueError(f"{name} must be an absolute path of plain characters: {path!r}")
        for name in (
            "connect_timeout",
            "header_timeout",
            "idle_timeout",
            "response_timeout",
            "write_timeout",
            "upstream_idle_timeout",
            "stop_timeout",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
        for name, low in (("log_sample", 1), ("nbthread", 1), ("max_headers", 1), ("retries", 0)):
            value = getattr(self, name)
            if name == "log_sample" and value == "auto":
                if self.map_dir is None:
                    raise ValueError("log_sample 'auto' needs map_dir (its map is there)")
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.nbthread > 64:
            raise ValueError(f"nbthread must be <= 64 (HAProxy's build limit), got {self.nbthread}")
        if self.max_headers > 32766:
            raise ValueError(f"max_headers must be <= 32766, got {self.max_headers}")
        prefix = self.request_id_prefix
        if not (0 < len(prefix) <= 32 and prefix.isascii() and prefix.isalnum()):
            raise ValueError(f"request_id_prefix must be 1-32 letters or digits: {prefix!r}")
        if not self.forwarded_proto.isascii() or not self.forwarded_proto.isalnum():
            raise ValueError(
                f"forwarded_proto must be a token like 'http': {self.forwarded_proto!r}"
            )
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"trusted_proxies{exc}") from None

    @property
    def auto_sample(self) -> bool:
        """The agent chooses the sampling at run time (`sampling`): "auto", with the short
        log (the access log needs every request)."""
        return self.log_sample == "auto" and self.log_socket is not None and not self.access_log

    def server_options(self) -> tuple[str, ...]:
        """Keywords every server gets, in the file and through `add server` alike."""
        return (f"pool-purge-delay {ms(self.upstream_idle_timeout)}",)

    @property
    def bufsize(self) -> int:
        """`tune.bufsize`: a request head up to `max_header_size` bytes fits beside the
        rewrite reserve (HAProxy answers 400 to a larger one)."""
        return max(MIN_BUFSIZE, self.max_header_size + MAXREWRITE)


@dataclass(frozen=True)
class Server:
    """A replica HAProxy should start with (an agent's restart keeps its replicas)."""

    name: str
    host: str
    port: int
    weight: int
    enabled: bool  # False: in maintenance until the runtime API enables it

    def line(self, options: str) -> str:
        if not 0 <= self.weight <= MAX_WEIGHT:
            raise ValueError(f"server {self.name}: weight must be 0-{MAX_WEIGHT}")
        state = "" if self.enabled else " disabled"
        where = address(self.host, self.port)
        name = checked_name("server", self.name)
        return f"    server {name} {where} weight {self.weight} {options}{state}"


def ms(seconds: float) -> str:
    """A time as HAProxy reads it: whole milliseconds, at least 1."""
    return f"{max(1, math.ceil(seconds * 1000))}ms"


def bind_tls(cert: str | None) -> str:
    """The `bind` line's TLS options: HTTP/2 or HTTP/1.1 by ALPN, TLS 1.2 at least."""
    if cert is None:
        return ""
    return f" ssl crt {cert} alpn h2,http/1.1 ssl-min-ver TLSv1.2"


def render(
    s: Settings,
    servers: tuple[Server, ...] = (),
    slot_servers: Mapping[str, tuple[Server, ...]] | None = None,
) -> str:
    """The configuration file for `s`, starting with `servers` in the weighted backend
    and `slot_servers` in the slot backends they name (then all at run time)."""
    slots = _slot_servers(s, slot_servers)
    lines = [
        "# Generated by changeover at each start: edits are overwritten (docs/haproxy.md).",
        "global",
        f"    nbthread {s.nbthread}",
        f"    stats socket {s.stats_socket} mode 600 level admin",
        "    stats timeout 10s",
        f"    tune.bufsize {s.bufsize}",
        # HAProxy counts the request line among the headers; the spec counts fields.
        f"    tune.http.maxhdr {s.max_headers + 1}",
        f"    hard-stop-after {ms(s.stop_timeout + 1.0)}",
        "",
        *_ring(s),
        "defaults",
        "    mode http",
        f"    timeout connect {ms(s.connect_timeout)}",
        f"    timeout http-request {ms(s.header_timeout)}",
        f"    timeout http-keep-alive {ms(s.idle_timeout)}",
        f"    timeout client {ms(s.write_timeout)}",
        f"    timeout server {ms(s.response_timeout)}",
        f"    timeout queue {ms(s.connect_timeout)}",
        "    timeout tunnel 24h",
        # a soft stop at a reload answers an idle connection's next request (with
        # Connection: close) instead of closing it under the client (haproxy.stopping)
        "    option idle-close-on-response",
    ]
    if s.error_pages is not None:  # changeover's wording (errorpages), not HAProxy's
        lines += [
            f"    errorfile {code} {s.error_pages}/{errorpages.file_name(code)}"
            for code in errorpages.STATUSES
        ]
    lines += [
        "",
        f"frontend {FRONTEND}",
        f"    bind fd@{s.listen_fd}{bind_tls(s.tls_cert)}",
    ]
    if s.preview_fd is not None:  # the agent accepts, HAProxy serves (haproxy/preview.py)
        lines.append(f"    bind sockpair@{s.preview_fd} name preview{bind_tls(s.tls_cert)}")
    if s.log_socket is not None and s.access_log:  # every request, and all it needs
        lines += [
            f"    log ring@{LOG_RING} len {MAX_LINE} local0 info",
            f'    log-format "{ACCESS_FORMAT}"',
        ]
    elif s.log_socket is not None:
        lines += [f"    log ring@{LOG_RING} local0 info", f'    log-format "{LOG_FORMAT}"']
        if s.auto_sample:  # the level in a map the agent rewrites (`sampling`)
            assert s.map_dir is not None  # checked when made
            lines.append(f"    {sampling.rule(sampling.map_file(s.map_dir))}")
        elif isinstance(s.log_sample, int) and s.log_sample > 1:
            # one replica's response in log_sample, at random: a fixed 1-in-N (`log ...
            # sample 1:N`) would follow round robin's rotation and see some replicas
            # only; HAProxy's own answers (502, 503, 400...) run no http-response rule,
            # so every one is logged
            lines.append(
                f"    http-response set-log-level silent unless {{ rand({s.log_sample}) eq 0 }}"
            )
    if s.log_socket is not None:
        # a connection closed before any request is no request (else a `400 CR` line)
        lines.append("    option dontlognull")
    lines += [
        f"    unique-id-format {s.request_id_prefix}-%{{+X}}pid-%{{+X}}rt",
        "    http-request set-header X-Request-Id %[unique-id]"
        " unless { req.fhdr(x-request-id) -m found }",
        "    http-request set-var(txn.request_id) req.fhdr(x-request-id,1)",
    ]
    if s.log_socket is not None and s.access_log:
        lines += [f"    {rule}" for rule in access_vars(s.access_log_query)]
    lines += [
        # after-response: HAProxy's own answers (its 502/503/504 pages) carry it too
        "    http-after-response set-header X-Request-Id %[var(txn.request_id)]"
        " if { var(txn.request_id) -m found }",
        *_forwarding(s),
    ]
    if s.map_dir is None:
        lines.append(f"    default_backend {BACKEND}")
    else:
        lines += routes.frontend_lines(routes.MapFiles.under(s.map_dir), BACKEND)
    lines += [
        "",
        *_backend(BACKEND, s, "servers are added, weighted, drained and deleted at run time"),
    ]
    options = " ".join(s.server_options())
    lines += [server.line(options) for server in servers]
    if s.map_dir is not None:
        for slot in routes.SLOT_BACKENDS:
            lines += ["", *_backend(slot, s, "a revision's replicas again, at run time")]
            lines += [server.line(options) for server in slots.get(slot, ())]
        lines += ["", f"backend {routes.UNROUTED}", "    # no servers: HAProxy answers 503"]
    lines.append("")
    return "\n".join(lines)


TRUSTED_ACL = "trusted_proxy"
NETWORKS_PER_LINE = 16  # an `acl` line of this many stays far below HAProxy's 64 words


def _forwarding(s: Settings) -> list[str]:
    """X-Forwarded-For appended; X-Forwarded-Proto and -Host set, but a trusted peer's
    own kept. A peer with no IP address (a preview connection, passed over a socketpair:
    `src` finds nothing) is never trusted; lines with the same `acl` name are ORed."""
    if not s.trusted_proxies:
        return [
            "    option forwardfor",
            f"    http-request set-header X-Forwarded-Proto {s.forwarded_proto}",
            "    http-request del-header X-Forwarded-Host",
            "    http-request set-header X-Forwarded-Host %[req.fhdr(host)]"
            " if { req.fhdr(host) -m found }",
        ]
    networks = [str(network) for network in parse_networks(s.trusted_proxies)]
    return [
        *(
            f"    acl {TRUSTED_ACL} src {' '.join(networks[i : i + NETWORKS_PER_LINE])}"
            for i in range(0, len(networks), NETWORKS_PER_LINE)
        ),
        "    option forwardfor",
        f"    http-request set-header X-Forwarded-Proto {s.forwarded_proto}"
        f" unless {TRUSTED_ACL} {{ req.fhdr(x-forwarded-proto) -m found }}",
        f"    http-request del-header X-Forwarded-Host unless {TRUSTED_ACL}",
        "    http-request set-header X-Forwarded-Host %[req.fhdr(host)]"
        " if { req.fhdr(host) -m found } !{ req.fhdr(x-forwarded-host) -m found }",
    ]


def _slot_servers(
    s: Settings, slot_servers: Mapping[str, tuple[Server, ...]] | None
) -> Mapping[str, tuple[Server, ...]]:
    """The slot backends' servers at start; a backend the file has not is refused."""
    slots = slot_servers or {}
    known = routes.SLOT_BACKENDS if s.map_dir is not None else ()
    unknown = sorted(set(slots) - set(known))
    if unknown:
        raise ValueError(f"no slot backend {', '.join(unknown)} in this configuration")
    return slots


def _ring(s: Settings) -> list[str]:
    """The request log's way to the agent: HAProxy writes each line into a ring buffer
    (never blocking, never a syscall per line) that it forwards over one unix stream
    connection, octet-counted (`logline.Frames`); the agent reads it in batches. A
    datagram per line would be lost whenever the agent's queue held 10 of them (Linux's
    `net.unix.max_dgram_qlen`), and woke the agent for each."""
    if s.log_socket is None:
        return []
    return [
        f"ring {LOG_RING}",
        "    format raw",
        f"    maxlen {MAX_LINE if s.access_log else 1024}",  # a longer line is cut
        f"    size {RING_SIZE}",
        f"    timeout connect {ms(s.connect_timeout)}",
        "    timeout server 60000ms",  # an agent that reads nothing for this long is dropped
        f"    server agent unix@{s.log_socket} log-proto octet-count",
        "",
    ]


def _backend(name: str, s: Settings, comment: str) -> list[str]:
    return [
        f"backend {name}",
        f"    # {comment}",
        "    balance roundrobin",
        f"    retries {s.retries}",
        "    retry-on conn-failure empty-response",
        "    option redispatch 1",
    ]
