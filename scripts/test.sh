#!/usr/bin/env bash
# Install what the tests need (Debian packages when root, a virtualenv) and run lint and the whole suite.
# The tests start their own sshd hosts, PostgreSQL and MariaDB servers; they need root (mount namespaces).
source "$(dirname "$0")/setup.sh"
missing=()
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v unshare >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
setup_venv test
say "pytest"
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
say "ruff"
.venv/bin/ruff check release tests demo $(ls -d bench 2>/dev/null) || status=$((status ? status : 1))
say "mypy"
.venv/bin/mypy release || status=$((status ? status : 1))
exit "$status"
