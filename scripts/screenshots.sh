#!/bin/sh
# The dashboard's screenshots in docs/img/, taken from the current code: the browser
# test (tests/e2e/test_dashboard.py) runs a canary under load and saves each page.
# Needs Debian's chromium (sh scripts/parts.sh as root) and the dev install (make lint).
set -eu
cd "$(dirname "$0")/.."
CHANGEOVER_SCREENSHOTS=docs/img .venv/bin/pytest -q -p no:cacheprovider \
  tests/e2e/test_dashboard.py
ls -l docs/img/dashboard-*.png
