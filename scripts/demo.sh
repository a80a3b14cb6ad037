#!/usr/bin/env bash
# Set up and run a real deploy of the embedded demo: two local "hosts" under .demo/, no SSH, no database.
source "$(dirname "$0")/setup.sh"
setup_venv
VERSION=${1:-1.0.0}
say "building the demo artifact artifacts/oa-portal-$VERSION.tar.gz (if needed)"
.venv/bin/python demo/build_artifact.py "$VERSION"
.venv/bin/python demo/seed_db.py .demo/oa.db
say "release deploy demo --version $VERSION"
.venv/bin/release deploy demo --version "$VERSION" --yes
say "release status demo"
.venv/bin/release status demo
say "release backup list demo"
.venv/bin/release backup list demo
say "done: try  .venv/bin/release history  or  bash scripts/demo.sh 1.1.0  then  .venv/bin/release rollback demo --with-db --yes"
