#!/usr/bin/env bash
# Install release @VERSION@ from this offline bundle, with nothing from the network: a virtualenv
# (./release-venv, or the directory given) with release and its dependencies from wheels/.
#
#   bash install.sh [VENV_DIR]
#   PYTHON=/usr/bin/python3.11 bash install.sh /opt/release-venv     # choose the interpreter
#
# Needs CPython @PYTHONS@ on Linux @ARCHS@ with glibc >= 2.17. Run again with a newer bundle to upgrade
# the same virtualenv. (This file is scripts/bundle-install.sh in release's source; bundle.sh fills it in.)
set -euo pipefail

VERSION=@VERSION@
PYTHONS="@PYTHONS@"
ARCHS="@ARCHS@"
GLIBC_MIN=2.17

die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -le 1 ] || die "usage: bash install.sh [VENV_DIR]"
venv=${1:-release-venv}
case $venv in /*) ;; *) venv=$PWD/$venv ;; esac

arch=$(uname -m)
case " $ARCHS " in
    *" $arch "*) ;;
    *) die "this bundle has wheels for Linux $ARCHS; this machine is $(uname -s) $arch" ;;
esac

if command -v sha256sum >/dev/null; then
    (cd "$here" && sha256sum --check --quiet SHA256SUMS) ||
        die "the bundle is damaged or incomplete (SHA256SUMS does not match): copy it again"
fi

# --- Python: the first of $PYTHON, python3, python3.12, python3.11 that this bundle has wheels for -----
if [ -n "${PYTHON:-}" ]; then candidates=("$PYTHON"); else candidates=(python3 python3.12 python3.11); fi
python=
found=
for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    read -r v exe < <("$candidate" -c 'import sys
print("%d.%d" % sys.version_info[:2] if sys.implementation.name == "cpython" else "not-CPython", sys.executable)' 2>/dev/null) || continue
    found="$found $candidate ($v)"
    case " $PYTHONS " in *" $v "*) python=$exe; break ;; esac
done
if [ -z "$python" ]; then
    die "release needs Python >= 3.11, and this bundle has wheels for CPython ${PYTHONS// / and };" \
        "found:${found:- no python3}." \
        "Install Python 3.11 or 3.12 from the distribution's packages (e.g. 'dnf install python3.11' on" \
        "RHEL/Rocky/Alma 8 and 9, 'apt install python3.11-venv' where it is packaged) and run" \
        "'PYTHON=/usr/bin/python3.11 bash install.sh', or install on a newer controller (see README.md)"
fi

# --- glibc: manylinux2014 wheels need 2.17 or newer -------------------------------------------------------
libc=$("$python" -c 'import os; print(os.confstr("CS_GNU_LIBC_VERSION") or "")' 2>/dev/null || true)
case $libc in
    glibc\ *) ;;
    *) die "release's wheels need glibc >= $GLIBC_MIN; this system's C library is not glibc (${libc:-unknown}; musl/Alpine is not supported)" ;;
esac
"$python" -c 'import sys; sys.exit(tuple(map(int, sys.argv[1].split(".")[:2])) < (2, 17))' "${libc#glibc }" ||
    die "release's wheels need glibc >= $GLIBC_MIN; this system has ${libc}: use a newer controller (see README.md)"

"$python" -c 'import venv, ensurepip' 2>/dev/null ||
    die "$python has no venv/ensurepip module: install it (Debian/Ubuntu: apt install python3-venv, or python3.11-venv)"

# --- the virtualenv -------------------------------------------------------------------------------------
if [ -x "$venv/bin/python" ]; then
    say "upgrading the virtualenv $venv"
elif [ -e "$venv" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
    die "$venv exists and is not a virtualenv: give another directory"
else
    say "creating the virtualenv $venv with $python ($("$python" --version 2>&1))"
    "$python" -m venv "$venv"
fi
say "installing release $VERSION from $here/wheels"
# No index, and no pip configuration of this machine (an index, find-links or constraints of its own):
# exactly the bundle's wheels, the newest of each for this Python.
PIP_CONFIG_FILE=/dev/null "$venv/bin/python" -m pip --isolated install --no-index --find-links "$here/wheels" \
    --disable-pip-version-check --no-warn-script-location --quiet --upgrade --upgrade-strategy eager \
    "release==$VERSION"
installed=$("$venv/bin/release" --version) || die "release was installed but does not run: $venv/bin/release --version"

cat <<EOF
$installed is installed in $venv.
Put release on the PATH, for everyone (as root):
    ln -sf $venv/bin/release /usr/local/bin/release
or for yourself (add the line to ~/.bashrc):
    export PATH="$venv/bin:\$PATH"
Then: release --help, and release init <project> to start (README.md).
EOF
