"""Flask under changeover.runtime (Flask is not a dependency of changeover).

    pip install flask gunicorn
    gunicorn --threads 8 flask_app:app

Wrap the WSGI callable, not the Flask object: `lifecycle.wsgi(flask.wsgi_app)` keeps
`flask_app.flask` usable for `flask run` and tests, while servers load `app`.
"""

from __future__ import annotations

from flask import Flask

from changeover.runtime import Lifecycle

lifecycle = Lifecycle()
flask = Flask(__name__)


@lifecycle.readiness_check(timeout=1.0)
def database() -> bool:
    return True  # e.g. db.session.execute(text("SELECT 1"))


@lifecycle.on_shutdown(timeout=5.0)
def close_pool() -> None:
    pass  # e.g. db.engine.dispose()


@flask.get("/")
def hello() -> str:
    return "hello\n"


app = lifecycle.wsgi(flask.wsgi_app)
