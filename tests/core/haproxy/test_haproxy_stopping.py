"""How HAProxy stops: the commands, and the streams read from `show sess` (recorded
from HAProxy 2.6.12: one request in flight, one idle keep-alive connection, the CLI)."""

from __future__ import annotations

import pytest

from changeover.haproxy import preview
from changeover.haproxy.runtime import RuntimeApiError
from changeover.haproxy.stopping import disable_frontend, show_sess, streams

SHOW_SESS = (  # one request in flight (fe=public), the CLI's own; the idle one: no line
    "0x562a501d4e90: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0"
    " age=0s calls=1 rate=0 cpu=0 lat=0 rq[f=c08000h,i=0,an=00h,rx=,wx=,ax=]"
    " rp[f=80008000h,i=0,an=00h,rx=,wx=,ax=] scf=[8,200h,fd=17] scb=[8,1h,fd=-1] exp= rc=0"
    " c_exp=\n"
    "0x7f67ac042150: proto=tcpv4 src=127.0.0.1:59744 fe=public be=b srv=s1 ts=00 epoch=0"
    " age=0s calls=2 rate=0 cpu=0 lat=0 rq[f=49c40080h,i=0,an=8000h,rx=,wx=,ax=]"
    " rp[f=80400000h,i=0,an=1400000h,rx=29s,wx=,ax=] scf=[8,80h,fd=15] scb=[8,11h,fd=16]"
    " exp=4s rc=0 c_exp=\n"
    "\n"
)


def test_streams_count_the_frontend_only() -> None:
    assert streams(SHOW_SESS) == 1
    assert streams(SHOW_SESS, "other") == 0
    assert streams("") == 0


def test_the_commands() -> None:
    assert disable_frontend().line() == b"disable frontend public\n"
    assert disable_frontend().check(b"\n") == "\n"
    with pytest.raises(RuntimeApiError):
        disable_frontend().check(b"No such frontend.\n")
    assert show_sess().line() == b"show sess\n"
    with pytest.raises(ValueError, match="frontend"):
        disable_frontend("public; shutdown")


# `show sess` as HAProxy 2.6.12 answered it with a preview request in flight (`preview`)
WITH_PREVIEW = (
    "0x555f47d44940: proto=? ts=00 epoch=0 age=0s calls=1 rate=1 cpu=0 lat=0"
    " rq[f=848202h,i=0,an=00h,rx=,wx=,ax=] rp[f=80408000h,i=0,an=00h,rx=,wx=,ax=]"
    " scf=[8,40h,fd=-1] scb=[8,49h,fd=14] exp=59s rc=0 c_exp=\n"
    "0x7f605003b740: proto=sockpair src=unix:2 fe=public be=slot0 srv=r2-1 ts=00"
    " epoch=0x1 age=0s calls=2 rate=0 cpu=0 lat=0 rq[f=49c40080h,i=0,an=8000h,rx=,wx=,ax=]"
    " rp[f=80400000h,i=0,an=1400000h,rx=1m,wx=,ax=] scf=[8,80h,fd=16] scb=[8,11h,fd=17]"
    " exp=4s rc=0 c_exp=\n"
    "0x7f6050055590: proto=tcpv4 src=127.0.0.1:40000 fe=public be=replicas srv=r1-1 ts=00"
    " epoch=0x1 age=0s calls=1 rate=1 cpu=0 lat=0 rq[f=c08002h,i=0,an=00h,rx=10s,wx=,ax=]"
    " rp[f=80008002h,i=0,an=00h,rx=,wx=,ax=] scf=[8,0h,fd=18] scb=[8,1h,fd=19] exp=10s\n"
    "0x7f6050055591: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00"
    " scf=[8,0h,fd=20] scb=[8,1h,fd=-1] exp=10s rc=0 c_exp=\n"
)


def test_the_preview_streams_client_descriptors_are_read_from_show_sess() -> None:
    """Only the preview bind's (the one `sockpair` bind) client sides: not the public
    listener's, the log forwarder's or the CLI's own."""
    assert preview.stream_fds(WITH_PREVIEW) == {16}
    assert preview.stream_fds("") == set()
