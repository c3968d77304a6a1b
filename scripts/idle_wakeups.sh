#!/bin/bash
# Usage: idle_wakeups.sh <fliplet-agent binary> [seconds]: context switches of an idle `start` with 3 scheduled operations (docs/benchmarks.md).
bin=$1; secs=${2:-60}
job=$(mktemp --suffix=.yml)
cat > "$job" <<'YML'
auth_token: eu--idle-test
api_url: http://127.0.0.1:9
operations:
  - {type: push, frequency: '0 0 1 1 *', datasource_id: 1, source: {type: rows, rows: [{id: 1}]}}
  - {type: push, frequency: '0 3 2 2 *', datasource_id: 2, source: {type: rows, rows: [{id: 1}]}}
  - {type: push, frequency: '0 4 3 3 *', datasource_id: 3, source: {type: rows, rows: [{id: 1}]}}
YML
FLIPLET_AGENT_LOG=off $bin start "$job" >/dev/null 2>&1 &
pid=$!
sleep 5
sum() { cat /proc/$pid/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s+=$2} END {print s}'; }
a=$(sum); sleep $secs; b=$(sum)
echo "threads: $(ls /proc/$pid/task | wc -l) ctx switches in ${secs}s: $((b-a))"
kill $pid; wait $pid 2>/dev/null; rm -f "$job"
