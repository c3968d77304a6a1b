#!/usr/bin/env bash
# The whole test suite: sets up what the tests need (scripts/setup.sh), then runs every
# test of the workspace against the real PostgreSQL, MariaDB and SQLite and the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --locked "$@"
