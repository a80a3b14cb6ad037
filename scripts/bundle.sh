#!/usr/bin/env bash
# Build dist/release-offline-<version>.tar.gz, to install release on a controller with no internet:
# the wheel of release, the wheels of every runtime dependency for manylinux2014 (glibc >= 2.17) on
# x86_64 and aarch64, CPython 3.11 and 3.12, install.sh, README.md (and docs/ if present), SHA256SUMS.
#
#   bash scripts/bundle.sh [--out DIR] [--cache DIR]
#
# Needs Python >= 3.11 (PYTHON=... to choose it) and a package index. The build tools live in a venv of
# this script's own under the cache dir (default ~/.cache/release-bundle), never in the project's.
# Versions: the newest that scripts/bundle-constraints.txt allows, as pip resolves them on this machine;
# when one of them has no glibc 2.17 wheel for a target, this fails naming the package and the target:
# pin the newest version that has one in scripts/bundle-constraints.txt.
set -euo pipefail

PYTHONS=(3.11 3.12)
ARCHS=(x86_64 aarch64)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'bundle.sh: error: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONSTRAINTS=$ROOT/scripts/bundle-constraints.txt
out=$ROOT/dist
cache=${XDG_CACHE_HOME:-$HOME/.cache}/release-bundle
while [ $# -gt 0 ]; do
    case $1 in
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        --cache) [ $# -ge 2 ] || die "--cache needs a directory"; cache=$2; shift 2 ;;
        -h | --help) sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
mkdir -p "$out" "$cache/wheels"
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)

python=${PYTHON:-python3}
command -v "$python" >/dev/null || die "$python not found (set PYTHON=/path/to/python3.11)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$python is older than 3.11"

# one bundle build at a time per cache dir: they share the build venv and the wheel cache
exec 9>"$cache/.lock"
command -v flock >/dev/null && flock 9

work=$(mktemp -d "${TMPDIR:-/tmp}/release-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- build tools, in a throwaway venv of this script's own --------------------------------------------
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
benv=$cache/buildenv-$pyver
if [ ! -e "$benv/.complete" ]; then
    say "creating the build venv $benv"
    rm -rf "$benv"
    "$python" -m venv "$benv"
    "$benv/bin/python" -m pip install -q --disable-pip-version-check -U pip build
    touch "$benv/.complete"
fi
pip=("$benv/bin/python" -m pip --disable-pip-version-check)
mapfile -t build_requires < <("$benv/bin/python" -c '
import tomllib, sys
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"]))' "$ROOT/pyproject.toml")
"${pip[@]}" install -q "${build_requires[@]}"

# --- the wheel of release, built from a copy so the checkout gets no build/ or egg-info --------------
say "building the wheel of release"
mkdir "$work/src" "$work/self"
tar -C "$ROOT" --exclude=./.git --exclude=./.venv --exclude=./dist --exclude=./build --exclude=./.demo \
    --exclude=./artifacts --exclude=./backups --exclude=./.release --exclude=./.pytest_cache \
    --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.hypothesis --exclude='*.egg-info' \
    --exclude=__pycache__ -cf - . | tar -C "$work/src" -xf -
"$benv/bin/python" -m build --wheel --no-isolation --outdir "$work/self" "$work/src" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; die "building the wheel of release failed"; }
wheels=("$work"/self/release-*.whl)
if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then die "expected one wheel of release, got: ${wheels[*]}"; fi
wheel=${wheels[0]}
version=$(basename "$wheel" | cut -d- -f2)
# package-data is easy to lose (a pattern in pyproject.toml): every shipped skeleton file and playbook
"$benv/bin/python" - "$wheel" "$work/src" <<'EOF' || die "the wheel of release lacks package data (see above)"
import sys
import zipfile
from pathlib import Path

wheel, src = sys.argv[1], Path(sys.argv[2])
names = set(zipfile.ZipFile(wheel).namelist())
skeleton = [p for p in (src / "release" / "skeleton").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
playbooks = sorted((src / "release" / "playbooks").glob("*.yml"))
if not skeleton or not playbooks:
    sys.exit("no release/skeleton/* or release/playbooks/*.yml in the source tree")
missing = [p.relative_to(src).as_posix() for p in skeleton + playbooks if p.relative_to(src).as_posix() not in names]
if missing:
    sys.exit(f"missing from {Path(wheel).name}: {', '.join(missing)}")
EOF

# --- resolve: the newest versions the constraints allow, per Python version (in parallel) ------------
# pip evaluates environment markers for the interpreter it runs on ($pyver, this machine's arch), not for
# the target; no runtime dependency has a marker that tells 3.11 from 3.12 or x86_64 from aarch64.
resolve() {  # PY: $work/lock-PY.txt, name==version of every dependency
    local py=$1
    "${pip[@]}" install -q --dry-run --ignore-installed --only-binary=:all: --python-version "$py" \
        --implementation cp --abi "cp${py/./}" -c "$CONSTRAINTS" --report "$work/report-$py.json" "$wheel" \
        >"$work/resolve-$py.log" 2>&1 || return 1
    "$benv/bin/python" -c '
import json, sys
for item in json.load(open(sys.argv[1]))["install"]:
    meta = item["metadata"]
    if meta["name"] != "release":
        print(meta["name"] + "==" + meta["version"])' "$work/report-$py.json" >"$work/lock-$py.txt"
}
say "resolving the dependencies for CPython ${PYTHONS[*]}"
pending=()
for py in "${PYTHONS[@]}"; do resolve "$py" & pending+=("$!:$py"); done
for job in "${pending[@]}"; do
    wait "${job%%:*}" || { cat "$work/resolve-${job#*:}.log" >&2; die "cannot resolve the dependencies for CPython ${job#*:}"; }
done

# --- fetch: exactly those versions for every target, from the cache or else the index (in parallel) -----
describe() { echo "CPython $2 on manylinux2014 $1 (glibc 2.17)"; }
fetch() {  # ARCH PY: the locked wheels for one target into $work/fetch-ARCH-PY
    local arch=$1 py=$2 dest=$work/fetch-$1-$2 log=$work/fetch-$1-$2.log
    local args=(--no-deps --only-binary=:all: --platform "manylinux2014_$arch" --platform "manylinux_2_17_$arch"
        --python-version "$py" --implementation cp --abi "cp${py/./}" -r "$work/lock-$py.txt" -d "$dest")
    "${pip[@]}" download -q --no-index --find-links "$cache/wheels" "${args[@]}" >"$log" 2>&1 && return 0
    say "downloading the wheels for $(describe "$arch" "$py")"
    "${pip[@]}" download -q "${args[@]}" >"$log" 2>&1
}
pending=()
for arch in "${ARCHS[@]}"; do
    for py in "${PYTHONS[@]}"; do fetch "$arch" "$py" & pending+=("$!:$arch:$py"); done
done
failed=()
for job in "${pending[@]}"; do
    IFS=: read -r pid arch py <<<"$job"
    if ! wait "$pid"; then
        cat "$work/fetch-$arch-$py.log" >&2
        missing=$(grep -o 'satisfies the requirement [^ ]*' "$work/fetch-$arch-$py.log" | head -n1 | cut -d' ' -f4)
        failed+=("no wheel of ${missing:-a dependency} for $(describe "$arch" "$py")")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    printf 'bundle.sh: error: %s\n' "${failed[@]}" >&2
    die "pin in scripts/bundle-constraints.txt the newest version that has a glibc 2.17 wheel for every" \
        "target, or replace the dependency"
fi
stage=$work/release-offline-$version
mkdir -p "$stage/wheels"
for arch in "${ARCHS[@]}"; do
    for py in "${PYTHONS[@]}"; do
        cp -n "$work/fetch-$arch-$py"/*.whl "$cache/wheels/"
        cp -n "$work/fetch-$arch-$py"/*.whl "$stage/wheels/"
    done
done
cp "$wheel" "$stage/wheels/"

# --- the bundle ---------------------------------------------------------------------------------------
say "writing the bundle"
sed -e "s/@VERSION@/$version/g" -e "s/@PYTHONS@/${PYTHONS[*]}/g" -e "s/@ARCHS@/${ARCHS[*]}/g" \
    "$ROOT/scripts/bundle-install.sh" >"$stage/install.sh"
chmod 755 "$stage/install.sh"
cp "$ROOT/README.md" "$stage/"
if [ -d "$ROOT/docs" ]; then cp -R "$ROOT/docs" "$stage/docs"; fi
(cd "$stage" && find . -type f -printf '%P\0' | sort -z | xargs -0 sha256sum >"$work/SHA256SUMS")
mv "$work/SHA256SUMS" "$stage/SHA256SUMS"
tarball=$out/release-offline-$version.tar.gz
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner -czf "$tarball.tmp" "release-offline-$version"
mv -f "$tarball.tmp" "$tarball"
compiled=$(find "$stage/wheels" -name '*.whl' ! -name '*-none-any.whl' | wc -l)
total=$(find "$stage/wheels" -name '*.whl' | wc -l)
say "$tarball: $(du -h "$tarball" | cut -f1), $total wheels ($compiled compiled) for CPython ${PYTHONS[*]} on ${ARCHS[*]}"
echo "$tarball"
