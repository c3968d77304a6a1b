#!/usr/bin/env python3
"""End-to-end sync benchmark: PostgreSQL -> fliplet-agent -> Fliplet emulator.

For each size (default 50k, 100k and 1M rows of a 4-column table: int id, two text columns,
a timestamptz) it measures two runs of the release `fliplet-agent start job.yml`:
  1. a first sync into an empty data source;
  2. a re-sync after 1% of the rows got a new timestamp.
and prints wall time, rows/s, the agent's CPU seconds (user+system) and its peak RSS.
The emulator runs as its own process, so its work is not counted as the agent's.

Usage: python3 scripts/bench_sync.py [--sizes 50000,100000,1000000] [--no-build]
Needs PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`), like the tests.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
AGENT = os.path.join(TARGET, "release", "fliplet-agent")
EMULATOR = os.path.join(TARGET, "release", "fliplet-emulator")
TOKEN = "eu--bench-token"


def psql(sql):
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            req = urllib.request.Request(url + "/v1/user", headers={"Auth-token": TOKEN})
            urllib.request.urlopen(req, timeout=2).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"emulator did not answer at {url}")


def run_agent(job, env):
    start = time.time()
    proc = subprocess.Popen([AGENT, "start", job], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"agent failed:\n{err[-3000:]}")
    summary = [l for l in err.splitlines() if "Summary:" in l]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, summary[-1] if summary else ""


def bench(n, tmp):
    table = f"bench_sync_{n}"
    psql(f"SET client_min_messages = warning; DROP TABLE IF EXISTS {table}")
    psql(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text, email text, updated_at timestamptz);"
        f"INSERT INTO {table} SELECT g, 'Person ' || g, 'person' || g || '@example.com',"
        f" timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, {n}) g;"
    )
    state = {
        "organizations": [{"id": 1, "name": "Bench Ltd"}],
        "users": [{"id": 1, "email": "bench@example.com", "fullName": "Bench", "organizationIds": [1]}],
        "tokens": [{"token": TOKEN, "userId": 1, "grants": {"1": ["select", "insert", "update", "delete"]}}],
        "dataSources": [{"id": 1, "name": "Bench", "organizationId": 1, "entries": []}],
    }
    state_path = os.path.join(tmp, f"state-{n}.json")
    with open(state_path, "w") as f:
        json.dump(state, f)
    port = free_port()
    emu = subprocess.Popen(
        [EMULATOR, "--port", str(port), "--state", state_path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url)
        job = os.path.join(tmp, f"bench-{n}.yml")
        with open(job, "w") as f:
            f.write(
                f"auth_token: {TOKEN}\napi_url: {url}\ndatasource_id: 1\n"
                "database_driver: postgres\ndatabase_host: 127.0.0.1\ndatabase_port: 5432\n"
                "database_username: postgres\ndatabase_name: test\n"
                f'query: SELECT id, name, email, updated_at AS "updatedAt" FROM {table}\n'
                "primary_column: id\ntimestamp_column: updatedAt\nsync_on_init: true\nlog_verbosity: info\n"
            )
        env = dict(os.environ, FLIPLET_AGENT_LOG="off")
        first = run_agent(job, env)
        psql(f"UPDATE {table} SET updated_at = updated_at + interval '1 hour' WHERE id % 100 = 0")
        resync = run_agent(job, env)
    finally:
        emu.terminate()
        emu.wait()
        psql(f"DROP TABLE IF EXISTS {table}")
    return first, resync


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50000,100000,1000000")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "fliplet-agent", "-p", "fliplet-emulator"], cwd=ROOT, check=True)
    print(f"{'rows':>9} {'run':<12} {'wall s':>8} {'rows/s':>10} {'agent CPU s':>12} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            for name, (wall, cpu, rss, summary) in zip(("first sync", "1% re-sync"), bench(n, tmp)):
                print(f"{n:>9} {name:<12} {wall:>8.2f} {n / wall:>10.0f} {cpu:>12.2f} {rss:>12.1f}")
                if summary:
                    print(f"{'':>9} {summary.split('Summary:')[-1].strip()}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
