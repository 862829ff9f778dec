#!/bin/sh
# The real programs the tests run (not Python packages): installed from Debian when missing.
# As root with apt-get (CI runs as root) they are installed; otherwise the missing ones are
# listed, and the tests that need them skip, except in CI (CI=true), where they fail.
set -eu
# binary:package, one per line; the tests find each binary with tests/parts.py
PARTS="
sshd:openssh-server
prometheus:prometheus
promtool:prometheus
prometheus-alertmanager:prometheus-alertmanager
chromium:chromium
initdb:postgresql
haproxy:haproxy
"
missing=""
for part in $PARTS; do
  binary=${part%%:*}
  package=${part#*:}
  # PostgreSQL's server programs live in /usr/lib/postgresql/<major>/bin, not on PATH
  if ! command -v "$binary" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$binary" ] \
    && ! ls /usr/lib/postgresql/*/bin/"$binary" >/dev/null 2>&1; then
    missing="$missing $package"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test parts from Debian:$missing" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "missing test parts (install them to run every test):$missing" >&2
fi
