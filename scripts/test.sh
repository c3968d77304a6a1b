#!/usr/bin/env bash
# The whole test suite: sets up what the tests need (scripts/setup.sh), then runs every
# test of the workspace against the real PostgreSQL, MariaDB and SQLite and the emulator,
# the desktop app's front-end unit tests (Vitest) and its end-to-end test (the real app
# under Xvfb, driven over WebDriver: scripts/e2e.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent ui:build   # the desktop app embeds ui/dist
cargo test --workspace --locked "$@"
npm run --silent test:ui
bash scripts/e2e.sh
