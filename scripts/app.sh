#!/usr/bin/env bash
# Build and launch the desktop app in demo mode (`npm run app`): installs the Debian
# packages Tauri needs when missing (root or sudo), the front end's npm packages, builds the
# front end and the app (release), and starts it with --demo: on a first launch with no
# jobs it creates the demo job (bundled SQLite + the Fliplet API emulator inside the app).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
pkgs=(libwebkit2gtk-4.1-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libgtk-3-dev
  libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev libdbus-1-dev pkg-config)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "app: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent ui:build
cargo build -p fliplet-agent-app -p fliplet-agent-tray --release --locked
target=${CARGO_TARGET_DIR:-target}
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "app: no display (DISPLAY/WAYLAND_DISPLAY unset). Built $target/release/fliplet-agent-app;"
  echo "     run it in a desktop session, or try the command-line demo: cargo run --release -- demo"
  exit 1
fi
exec "$target/release/fliplet-agent-app" --demo "$@"
