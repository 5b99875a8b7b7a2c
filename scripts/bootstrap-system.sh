#!/usr/bin/env bash
# Install the Debian packages that dropkit's demo and test suite need.
#
# Fast when everything is present (one dpkg-query per package), so `make install` runs it every
# time. As root it installs what is missing with apt-get; otherwise it prints the command to run and
# carries on: the tests that need a missing package then fail with a clear message of their own.
#
# Not listed on purpose:
#   ffmpeg                  PyAV wheels bundle their own FFmpeg libraries.
#   postgresql redis-server scripts/ensure-services.sh installs them, and only when the services are
#                           not already reachable.
set -euo pipefail

# One word per Debian package; later work adds to this list.
#   espeak-ng          offline text-to-speech (media: voice-over without an API key)
#   chromium           system browser driven by Playwright (crawl); browser downloads are impossible
#   fonts-dejavu-core  a known TrueType font for subtitles and captions
#   sqlite3            sqlite3 shell, handy for inspecting .dropkit/*.db (optional)
SYSTEM_PACKAGES="espeak-ng chromium fonts-dejavu-core sqlite3"

# The interpreter the Makefile builds .venv with. Debian's own python3 needs python3-venv for
# `python3 -m venv`; other builds (pyenv, python.org) carry ensurepip themselves.
PYTHON="${PYTHON:-python3}"

log() { printf 'bootstrap-system: %s\n' "$*"; }

if ! command -v dpkg-query >/dev/null 2>&1; then
    log "warning: not a Debian-based system; install the equivalents of: $SYSTEM_PACKAGES"
    exit 0
fi

wanted="$SYSTEM_PACKAGES"
if python_bin="$(command -v "$PYTHON" 2>/dev/null)" \
    && ! "$python_bin" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    case "$(readlink -f "$python_bin")" in
        /usr/bin/*) wanted="$wanted python3-venv" ;;
        *) log "warning: $python_bin has no ensurepip; 'python -m venv' will fail" ;;
    esac
fi

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

missing=()
for pkg in $wanted; do
    installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "warning: missing Debian packages: ${missing[*]}"
    log "warning: install them with:"
    log "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
    log "warning: continuing; the tests that need them will fail until they are installed"
    exit 0
fi

log "installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
log "done"
