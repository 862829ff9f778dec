#!/bin/sh
# Create .venv with a working pip on a fresh machine; install python3-venv if Debian lacks it.
set -eu
PYTHON="${PYTHON:-python3}"
VENV="${1:-.venv}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "changeover needs Python >= 3.11; $PYTHON is $("$PYTHON" -V 2>&1)" >&2; exit 1; }
[ -x "$VENV/bin/pip" ] && exit 0
rm -rf "$VENV"
if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
  rm -rf "$VENV"
  if command -v apt-get >/dev/null 2>&1; then
    ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing python$ver-venv with apt-get (needed to create $VENV)" >&2
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq "python$ver-venv" >/dev/null || \
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
