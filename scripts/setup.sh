# Shared set-up for demo.sh and test.sh (sourced, not run): a virtualenv in .venv with release installed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# apt_install PKG...: install Debian packages when root; otherwise say exactly what is missing.
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        die "missing: $* (install them: sudo apt-get install -y $*)"
    fi
    say "installing Debian packages: $*"
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]; then
        apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

# setup_venv [EXTRA]: .venv with release installed (editable), with the optional EXTRA ("test").
setup_venv() {
    local extra=${1:-}
    local python=${PYTHON:-python3}
    command -v "$python" >/dev/null || apt_install python3 python3-venv
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed"
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv 2>/dev/null || { apt_install python3-venv && rm -rf .venv && "$python" -m venv .venv; }
    fi
    say "installing release${extra:+ [$extra]} into .venv"
    .venv/bin/python -m pip install -qq --disable-pip-version-check -e ".${extra:+[$extra]}"
    # an editable install has no bytecode of its own; without it (or with PYTHONDONTWRITEBYTECODE set)
    # every `release` command compiles the package again: ~0.3 s of CPU before it does anything
    .venv/bin/python -m compileall -q release
}
