#!/usr/bin/env bash
# End-to-end test of the real desktop app: builds the front end and the app (debug), then
# runs ui/e2e/app.e2e.mjs (tray agent) and ui/e2e/wizard.e2e.mjs (setup wizard, against the
# emulator, PostgreSQL and SQLite) against it over WebDriver (tauri-driver + WebKitWebDriver) under
# Xvfb, inside a private D-Bus session with an unlocked gnome-keyring, with temporary
# HOME/XDG folders (the real user's config, keychain and history are never touched).
# Screenshots go to target/screenshots/ (under $CARGO_TARGET_DIR when it is set). Needs what scripts/setup.sh installs.
# E2E_SCRIPT=ui/e2e/measure.mjs APP=<release binary> E2E_SKIP_BUILD=1 runs the measurements
# of the README instead (see scripts/measure_app.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac

if [ "${E2E_SKIP_BUILD:-}" != 1 ]; then
  npm run --silent ui:build
  cargo build -p fliplet-agent-app -p fliplet-agent-tray -p fliplet-agent -p fliplet-emulator --bins --locked
fi

tmp=$(mktemp -d /tmp/fliplet-e2e.XXXXXX)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp"/{home,config,data,cache,run} && chmod 700 "$tmp/run"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
native=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data \
  XDG_CACHE_HOME=$tmp/cache XDG_RUNTIME_DIR=$tmp/run FLIPLET_AGENT_LOG=$tmp/agent.log \
  APP=${APP:-$target/debug/fliplet-agent-app} CLI=${CLI:-$target/debug/fliplet-agent} \
  EMULATOR=${EMULATOR:-$target/debug/fliplet-emulator} E2E_SCRIPTS=${E2E_SCRIPT:-ui/e2e/app.e2e.mjs ui/e2e/wizard.e2e.mjs} \
  TRAY=${TRAY:-$(dirname "${APP:-$target/debug/fliplet-agent-app}")/fliplet-agent-tray} \
  WEBDRIVER_URL=http://127.0.0.1:$port SCREENSHOTS=$target/screenshots \
  E2E_PORT=$port E2E_NATIVE_PORT=$native FLIPLET_STALE_CHECK_SECS=${FLIPLET_STALE_CHECK_SECS:-2}
export PATH=$HOME/.cargo/bin:/root/.cargo/bin:$PATH
unset DBUS_SESSION_BUS_ADDRESS DISPLAY WAYLAND_DISPLAY

status=0
dbus-run-session -- bash -c '
  set -euo pipefail
  echo -n e2e-keyring-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  xvfb-run -a -s "-screen 0 1280x800x24" bash -c "
    tauri-driver --port \$E2E_PORT --native-port \$E2E_NATIVE_PORT >\"\$HOME/tauri-driver.log\" 2>&1 &
    driver=\$!
    status=0
    # Each script starts from an empty app (the app inherits the environment of tauri-driver, so
    # the folders stay; their app parts are emptied). The keychain is shared.
    for script in \$E2E_SCRIPTS; do
      rm -rf \$XDG_CONFIG_HOME/fliplet-agent \$XDG_DATA_HOME/fliplet-agent \$XDG_DATA_HOME/com.fliplet.agent \$XDG_CACHE_HOME/com.fliplet.agent
      echo \"== \$script\"
      node \$script || { status=\$?; break; }
    done
    kill \$driver 2>/dev/null || true
    exit \$status
  "
' || status=$?
# A light tray process left by the test (a window closed by the end of a WebDriver session
# hands the agent to one): stop it, by the pid in the agent lock.
for _ in 1 2 3 4 5; do
  pid=$(cat "$XDG_DATA_HOME/fliplet-agent/agent.lock" 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$TRAY" ]; then
    kill "$pid" 2>/dev/null || true
  fi
  sleep 1
done
if [ $status -ne 0 ]; then
  echo "--- app log (last 60 lines) ---"; tail -n 60 "$tmp/agent.log" 2>/dev/null || true
  echo "--- tauri-driver log (last 30 lines) ---"; tail -n 30 "$tmp/home/tauri-driver.log" 2>/dev/null || true
fi
exit $status
