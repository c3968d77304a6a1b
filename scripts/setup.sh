#!/usr/bin/env bash
# Installs and starts what the tests need, idempotently: PostgreSQL and MariaDB (installed
# from Debian's packages when missing, started when stopped), Node.js packages of the
# crypto-js compatibility test, and the Rust toolchain's components; for the desktop app,
# the Debian packages Tauri 2 builds against plus the headless GUI test tools (Xvfb,
# gnome-keyring, WebKitWebDriver), the front end's npm packages and tauri-driver.
# Needs root (or sudo) for apt-get on a machine where something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# Desktop app (Tauri 2): build dependencies and headless GUI test tools (libglib2.0-bin:
# gdbus, with which the e2e test clicks the light tray's menu over D-Bus). Without
# recommends: dbus-x11 (D-Bus autolaunch) must not come along, it can hang the tests.
gui_pkgs=(libwebkit2gtk-4.1-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libgtk-3-dev
  libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev libdbus-1-dev
  xvfb xauth gnome-keyring libsecret-tools webkit2gtk-driver at-spi2-core imagemagick
  libglib2.0-bin)
need_gui=()
for p in "${gui_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_gui+=("$p")
done
if [ ${#need_gui[@]} -gt 0 ]; then
  echo "setup: installing ${need_gui[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_gui[@]}"
fi

# PostgreSQL: running, and the tests' trust login on 127.0.0.1 (what this machine kind has).
pg_version=$(ls /etc/postgresql | sort -V | tail -n1)
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "setup: starting PostgreSQL $pg_version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || true
fi
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  hba=/etc/postgresql/$pg_version/main/pg_hba.conf
  echo "setup: allowing trust logins from 127.0.0.1 in $hba (test machine)"
  $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
fi
psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null
# One role whose password PostgreSQL checks (scram), for the "wrong database password" tests
# of the setup wizard; every other login stays trust. Password: fliplet-pw-right.
hba=/etc/postgresql/$pg_version/main/pg_hba.conf
pw_line='host all fliplet_pw 127.0.0.1/32 scram-sha-256'
if ! $SUDO grep -qxF "$pw_line" "$hba"; then
  echo "setup: password login for the test role fliplet_pw in $hba"
  $SUDO sed -i "1i $pw_line" "$hba"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
fi
psql -h 127.0.0.1 -U postgres -d postgres -q -c "set password_encryption = 'scram-sha-256';
  do \$\$ begin
    if not exists (select 1 from pg_roles where rolname = 'fliplet_pw') then
      create role fliplet_pw login password 'fliplet-pw-right';
    else alter role fliplet_pw login password 'fliplet-pw-right'; end if;
  end \$\$;
  grant all on database test to fliplet_pw;" >/dev/null
psql -h 127.0.0.1 -U postgres -d test -q -c 'grant all on schema public to fliplet_pw' >/dev/null

# MariaDB: running, root over TCP with an empty password, database `test`.
if ! mariadb -h 127.0.0.1 -u root -e 'select 1' >/dev/null 2>&1; then
  echo "setup: starting MariaDB"
  $SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 1 30); do mariadb -h 127.0.0.1 -u root -e 'select 1' >/dev/null 2>&1 && break; sleep 1; done
fi
mariadb -h 127.0.0.1 -u root -e 'create database if not exists test'

# Node packages of the crypto-js compatibility test (exact versions from the lock file).
if [ -f tests/js/package-lock.json ]; then
  npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
fi
# Front end of the desktop app (exact versions from package-lock.json).
npm ci --no-audit --no-fund --loglevel=error

# tauri-driver: the WebDriver server of the desktop app's end-to-end test.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --version 2.1.0 --locked --quiet
fi
echo "setup: ready"
