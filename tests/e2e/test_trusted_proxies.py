"""`[proxy] trusted_proxies` on a real agent, both engines: a load balancer's
X-Forwarded-Proto and X-Forwarded-Host reach every replica as it sent them, through a
rolling deploy under load with no failed request, while a client from an address outside
the list has them overwritten. The replicas are uvicorn, which trusts the agent
(127.0.0.1) for proxy headers by default: the app sees the scheme the balancer saw.
"""

from __future__ import annotations

import httpx
import pytest

from changeover.loadgen import BackgroundLoad, Template
from tests.e2e.harness import ENGINES, Service, engine_part

# Replies with what a Django or Starlette app would read: the ASGI scheme (uvicorn sets it
# from X-Forwarded-Proto) and the forwarding headers, each field's lines joined as a list.
APP = """\
import os

VERSION = os.environ.get("HELLO_VERSION", "v0")
FORWARDED = (b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-for")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    got = {name: [] for name in FORWARDED}
    for name, value in scope["headers"]:
        if name in got:
            got[name].append(value.decode())
    seen = " ".join(f"{n.decode()}={', '.join(v)}" for n, v in got.items())
    body = f"scheme={scope['scheme']} {seen}\\n".encode()
    headers = [(b"content-type", b"text/plain"), (b"x-version", VERSION.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
"""
LB = (
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "shop.example"),
    ("X-Forwarded-For", "203.0.113.7"),
)
KEPT = b"scheme=https x-forwarded-proto=https x-forwarded-host=shop.example"
KEPT += b" x-forwarded-for=203.0.113.7, 127.0.0.1\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_trusted_balancers_headers_reach_every_replica_through_a_deploy(
    service: Service, engine: str
) -> None:
    (service.dir / "forwarded_app.py").write_text(APP)
    service.write_spec(
        engine=engine_part(engine), command="uvicorn forwarded_app:app --fd 3 --no-access-log"
    )
    text = service.spec.read_text()
    trusted = '[proxy]\ntrusted_proxies = ["127.0.0.1"]\n'
    service.spec.write_text(text.replace("[proxy]\n", trusted, 1))
    url = service.up()
    load = BackgroundLoad(
        url,
        rate=100,
        connections=4,
        templates=(Template(path="/", headers=LB, expect=KEPT),),
        timeout=30,
        count_header="X-Version",
    )
    with load as gen:
        deployed = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    report = gen.report
    assert report.failed == 0, report.summary()  # a bad body (headers lost) fails too
    assert report.ok == report.sent > 0
    assert set(report.header_counts) == {"v1", "v2"}  # both revisions answered

    # 127.0.0.2 is loopback too, but not in the list: its headers are overwritten
    host = url.split("/")[2]
    outsider = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=outsider) as client:
        answer = client.get(url, headers=dict(LB))
    assert answer.status_code == 200, answer.text
    assert answer.text == (
        f"scheme=http x-forwarded-proto=http x-forwarded-host={host}"
        " x-forwarded-for=203.0.113.7, 127.0.0.2\n"
    )
