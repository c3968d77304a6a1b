#!/usr/bin/env bash
# The whole test suite: sets up what the tests need (scripts/setup.sh), then runs every
# test of the workspace against the real PostgreSQL, MariaDB and SQLite and the emulator,
# the desktop app's front-end unit tests (Vitest) and its end-to-end test (the real app
# under Xvfb, driven over WebDriver: scripts/e2e.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent ui:build   # the desktop app embeds ui/dist
# The Rust tests run inside a private D-Bus session with an unlocked gnome-keyring (its files
# in a temporary folder), so the keychain tests talk to a real Secret Service; with
# FLIPLET_TEST_KEYCHAIN=require they fail, never skip, when it is unreachable.
keyring_home=$(mktemp -d)
trap 'rm -rf "$keyring_home"' EXIT
unset DBUS_SESSION_BUS_ADDRESS
KEYRING_HOME=$keyring_home dbus-run-session -- bash -c '
  set -euo pipefail
  echo -n test-keyring-password | XDG_DATA_HOME=$KEYRING_HOME gnome-keyring-daemon --unlock --components=secrets >/dev/null
  FLIPLET_TEST_KEYCHAIN=require cargo test --workspace --locked "$@"
' bash "$@"
npm run --silent test:ui
bash scripts/e2e.sh
