#!/usr/bin/env bash
# The desktop app's numbers in the README: launch-to-interactive, idle memory (all
# processes: the window process, the light tray process and WebKit's) and CPU with 3 scheduled jobs, window open / closed /
# started hidden. Release build, Xvfb, private D-Bus + gnome-keyring, temporary HOME.
# MEASURE_SECONDS (default 60) is the length of each idle sample. Writes target/measure-app.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
npm run --silent ui:build
cargo build -p fliplet-agent-app -p fliplet-agent-tray --release --locked
mkdir -p target
E2E_SKIP_BUILD=1 E2E_SCRIPT=ui/e2e/measure.mjs APP=$target/release/fliplet-agent-app TRAY=$target/release/fliplet-agent-tray \
  MEASURE_OUT=$root/target/measure-app.json bash scripts/e2e.sh
