"""BackgroundLoad (load from synchronous code) and the command line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest

from changeover.loadgen import BackgroundLoad, Report, worker
from changeover.loadgen.cli import build_parser, main
from tests.helpers import wait_for

from ._checks import assert_exact
from ._servers import Request, ServerConn, ThreadedServer, response


def test_background_load_runs_until_the_block_ends() -> None:
    with ThreadedServer() as srv, BackgroundLoad(srv.url, rate=400, connections=4) as load:
        live = load.wait_until(lambda r: r.ok >= 40, timeout=5)
        assert live.sent >= 40
        with pytest.raises(RuntimeError, match="still running"):
            _ = load.report
    report = load.report
    assert_exact(report)
    assert report.ok >= 40
    assert report.failed == 0
    assert report.ok == len(srv.server.received)
    assert load.snapshot() == report  # after exit, the snapshot is the final report


def test_background_load_ending_by_itself_keeps_the_report() -> None:
    with ThreadedServer() as srv, BackgroundLoad(srv.url, rate=500, requests=20) as load:
        final = load.wait_until(lambda r: r.sent == 20 and r.in_flight == 0, timeout=5)
    assert load.report.ok == final.ok == 20


def test_background_load_reraises_errors_from_its_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_connect(*args: object) -> None:
        raise RuntimeError("boom in the load thread")

    monkeypatch.setattr(worker, "connect", broken_connect)
    with ThreadedServer() as srv:
        load = BackgroundLoad(srv.url, rate=100, connections=1)
        with pytest.raises(RuntimeError, match="boom in the load thread"), load:
            pass
    assert isinstance(load.report, Report)
    assert load.report.sent == 1  # the request that hit the bug is still accounted for


def test_background_load_validates_options_in_the_caller() -> None:
    with pytest.raises(ValueError, match="timeout"):
        BackgroundLoad("http://127.0.0.1:1", rate=10, timeout=0)


def _echo(conn: ServerConn, req: Request) -> None:
    conn.write(response(body=req.body or b"ok", headers=[("X-Version", "v2")]))


def test_cli_prints_json_and_exits_zero_when_all_ok(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--rate", "500", "--requests", "40", "--connections", "2", "--post-bytes", "300"]
    args += ["--check-echo", "--count-header", "X-Version", "--json"]
    with ThreadedServer(_echo) as srv:
        code = main([srv.url, *args])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (data["sent"], data["ok"], data["failed"]) == (40, 40, 0)
    assert data["header_counts"] == {"v2": 40}
    posts = [r for r in srv.server.received if r.method == "POST"]
    assert posts
    assert all(len(r.body) == 300 for r in posts)


def test_module_entry_point_exits_one_on_failures() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # nothing listens: every request is refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        cmd = [sys.executable, "-m", "changeover.loadgen", url, "--rate", "100", "--requests", "3"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1, done.stderr
    assert "refused 3" in done.stdout


def test_cli_rejects_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ftp://example", "--rate", "1", "--requests", "1"])
    assert exit_info.value.code == 2
    assert "only http" in capsys.readouterr().err


def test_ctrl_c_stops_the_command_and_prints_the_report_of_what_ran() -> None:
    with ThreadedServer() as srv:
        cmd = [sys.executable, "-m", "changeover.loadgen", srv.url, "--rate", "100"]
        cmd += ["--duration", "10m", "--json"]  # a duration with a unit, as everywhere
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: len(srv.server.received) >= 20, 30, "requests reaching the server")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert "stopped early by SIGINT" in err
    report = json.loads(out)
    assert report["sent"] >= 20
    assert report["ok"] == report["sent"]  # in-flight requests finished, none was cut


@pytest.mark.parametrize(("raw", "seconds"), [("90", 90.0), ("1.5", 1.5), ("2m", 120.0)])
def test_durations_take_units_or_bare_seconds(raw: str, seconds: float) -> None:
    args = build_parser().parse_args(["http://x", "--rate", "1", "--duration", raw])
    assert args.duration == seconds


def test_a_duration_without_a_known_unit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["http://x", "--rate", "1", "--duration", "5 minutes"])
    assert exit_info.value.code == 2
    assert 'a duration with a unit, like "250ms"' in capsys.readouterr().err
