#!/usr/bin/env bash
# The README demo, unattended, on the embedded default: the local emulator (moto on 127.0.0.1),
# no AWS account, no model server. Every step is a deployer command you can run yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
DEPLOYER="$BIN/deployer"
OUT=reports/demo
export COLUMNS=${COLUMNS:-140}
# A fresh emulator state for this run (deployer keeps it in .deployer/local otherwise).
export DEPLOYER_LOCAL_DIR=$PWD/$OUT/emulator-state
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

step "1. validate agent.yaml: the spec, every environment, the agent code" "deployer validate"
$DEPLOYER validate

step "2. what production compiles to" "deployer plan --env production"
$DEPLOYER plan --env production

step "3. synthesize the production CDK stack (offline, cdk-nag checked)" "deployer synth --env production"
$DEPLOYER synth --env production

step "4. start the local emulator (moto + gateway + alarms + rollout engine), 60x time" \
     "deployer local up --time-scale 60   (in the background; log in $OUT/emulator.log)"
$BIN/python scripts/alert_receiver.py --port 9999 --out "$OUT/alerts.jsonl" --max-seconds 900 &
pids+=($!)
$DEPLOYER local up --env local --time-scale 60 > "$OUT/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
    $DEPLOYER status --env local > /dev/null 2>&1 && break
    sleep 0.5
done
$DEPLOYER status --env local > /dev/null || { echo "the emulator did not start; see $OUT/emulator.log"; exit 1; }
grep -E "gateway|moto|control" "$OUT/emulator.log" | head -5 || true

step "5. deploy v1 (the first version takes all traffic)" "deployer deploy --env local --wait"
$DEPLOYER deploy --env local --wait

step "6. one request through the gateway" \
     "deployer invoke route --env local --data '{\"message\": \"I still have not received my new card\"}'"
$DEPLOYER invoke route --env local --data '{"message": "I still have not received my new card"}'

step "7. staging gate: v1 answers the labelled held-out set (evaluation gate), then holds a realistic rate (SLO gate)" \
     "deployer loadtest --env local --rps 50 --duration 20s --report $OUT"
gate=0
$DEPLOYER loadtest --env local --rps 50 --duration 20s --report "$OUT" || gate=$?
echo "staging gate exit code: $gate (0 = the evaluation and every SLO gate passed)"

step "8. canary of a faulty v2 (30% of its requests fail) while traffic flows; its alarms roll it back" \
     "deployer deploy --env local --inject-error-rate 0.3 --wait"
$DEPLOYER loadtest --env local --no-eval --rps 80 --duration 45s --report "$OUT/canary-traffic" > "$OUT/canary-traffic.log" 2>&1 &
traffic=$!
sleep 4
rolled_back=0
$DEPLOYER deploy --env local --inject-error-rate 0.3 --wait || rolled_back=$?
wait "$traffic" || true
if [ "$rolled_back" -ne 1 ]; then
    echo "the faulty version was not rolled back (deploy exit code $rolled_back); see $OUT/emulator.log"
    exit 1
fi
echo "deploy exit code 1: the rollout rolled back, as a pipeline should see it"

step "9. where traffic is now, and the alarms that fired" "deployer status --env local"
$DEPLOYER status --env local

step "10. the alerts that reached a person (PagerDuty and Slack shapes, to a receiver on 127.0.0.1:9999)" \
     "deployer alerts --env local --limit 5"
$DEPLOYER alerts --env local --limit 5

step "11. the requests the faulty version failed" "deployer errors --env local --limit 5"
$DEPLOYER errors --env local --limit 5

request_id=$($DEPLOYER errors --env local --limit 1 --json | $BIN/python -c 'import json, sys; e = json.load(sys.stdin)["errors"]; print(e[0]["request_id"] if e else "")' || true)
if [ -n "$request_id" ]; then
    step "12. replay one of them against the stable version" "deployer replay $request_id --env local --against stable"
    $DEPLOYER replay "$request_id" --env local --against stable
fi

step "13. what changed between the live version and the rolled-back one" "deployer debug --env local"
$DEPLOYER debug --env local

printf '\n\033[1m== done\033[0m\n'
cat <<MSG
Where to look:
  $OUT/report.html          the load test report (plots: latency over time, histogram, errors, memory)
  $OUT/report.json          every figure of the SLO gate
  $OUT/alerts.jsonl         the alert payloads the receiver got
  $OUT/emulator.log         the emulator's console (deploys, weight shifts, alarm state changes, rollbacks)
  $OUT/emulator-state/events.log   the same events as JSON lines
  cdk.out/                  the synthesized CloudFormation templates and the Lambda bundle asset
Next: deployer drill (a rollback drill for any strategy), deployer --help, README.md.
MSG
