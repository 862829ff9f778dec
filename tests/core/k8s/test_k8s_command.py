"""`app.command` rewritten for a pod: each server form changeover supports, and a refusal."""

from __future__ import annotations

import pytest

from changeover.k8s.command import rewrite, server_of


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "uvicorn app:app --fd 3 --no-access-log",
            "uvicorn app:app --host 0.0.0.0 --port 8000 --no-access-log",
        ),
        (
            "uvicorn app:app --fd=3 --workers 2",
            "uvicorn app:app --host 0.0.0.0 --port 8000 --workers 2",
        ),
        (
            "python -m uvicorn app:app --fd 3",
            "python -m uvicorn app:app --host 0.0.0.0 --port 8000",
        ),
        (
            "/srv/venv/bin/uvicorn app:app --fd 3",
            "/srv/venv/bin/uvicorn app:app --host 0.0.0.0 --port 8000",
        ),
        (
            "hypercorn app:app --bind fd://3 --workers 0",
            "hypercorn app:app --bind 0.0.0.0:8000 --workers 0",
        ),
        ("hypercorn app:app -b fd://3", "hypercorn app:app --bind 0.0.0.0:8000"),
        ("hypercorn app:app --bind=fd://3", "hypercorn app:app --bind 0.0.0.0:8000"),
        (
            "gunicorn app:app --workers 2 --no-control-socket",
            "gunicorn app:app --workers 2 --no-control-socket --bind 0.0.0.0:8000",
        ),
        ("gunicorn app:app --bind fd://3", "gunicorn app:app --bind 0.0.0.0:8000"),
        (
            "granian --interface asgi --host 127.0.0.1 --port {port} app:app",
            "granian --interface asgi --host 0.0.0.0 --port 8000 app:app",
        ),
        ("server --listen=localhost:{port}", "server --listen=0.0.0.0:8000"),
        ("gunicorn app:app -b 127.0.0.1:{port}", "gunicorn app:app -b 0.0.0.0:8000"),
        ("server --host=::1 --port={port}", "server --host=0.0.0.0 --port=8000"),
        (
            "server --public-host 10.0.0.1 --port {port}",
            "server --public-host 10.0.0.1 --port 8000",
        ),
    ],
)
def test_each_supported_form_binds_the_container_port(command: str, expected: str) -> None:
    done = rewrite(command, 8000)
    assert done.argv == expected.split(), done.why
    assert done.why


@pytest.mark.parametrize(
    "command",
    ["python -m myserver", "gunicorn-like app --fd 3", "uvicorn app:app --uds /tmp/s"],
)
def test_a_command_without_port_or_known_form_is_refused_saying_what_to_write(
    command: str,
) -> None:
    done = rewrite(command, 8000)
    assert done.argv is None
    assert "write {port} where the port goes" in done.why
    assert "uvicorn --fd 3" in done.why  # the forms that would have worked


def test_a_gunicorn_that_binds_a_port_of_its_own_keeps_it() -> None:
    done = rewrite("gunicorn app:app --bind 0.0.0.0:9000", 8000)
    assert done.argv is None  # no {port}: the agent could not run it twice either


def test_the_server_is_the_program_or_the_module_python_runs() -> None:
    assert server_of(["/usr/bin/python3.12", "-m", "gunicorn", "x"]) == "gunicorn"
    assert server_of(["granian", "x"]) == "granian"
