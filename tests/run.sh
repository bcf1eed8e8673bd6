#!/bin/sh
# Install everything the tests need on a fresh Debian machine (Debian packages
# and a virtual environment in .venv), then run the test suite with pytest.
# Arguments are passed on to pytest.
set -eu
cd "$(dirname "$0")/.."

packages="netcat-openbsd openssl socat irssi weechat-curses tmux chromium fonts-dejavu-core sqlite3 iproute2 curl util-linux haproxy inspircd ngircd"
missing=""
for package in $packages; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
python3 -c "import venv, ensurepip" 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check ".[test]"
# Two workers (pytest-xdist), a test module each at a time: most tests wait on
# real twistd processes, so two run in about half the time on two cores.
# "-n 0" among the arguments runs them in this process instead.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
