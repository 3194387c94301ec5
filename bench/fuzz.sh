#!/usr/bin/env bash
# Longer OpenAPI fuzz pass (schemathesis) against the served app: the tests/fuzz setup with more examples per
# operation and role, a longer stateful run following the document's links, and a random seed.
# Prints operations tested, requests made, statuses and distinct failure kinds; exits non-zero on failures.
#
#   bash bench/fuzz.sh                       # FUZZ_MAX_EXAMPLES=100, stateful 30 scenarios x 8 steps
#   FUZZ_MAX_EXAMPLES=25 FUZZ_SEED=1234 bash bench/fuzz.sh -k "subscriptions"   # extra args go to pytest
#
# Needs PostgreSQL (TEST_DATABASE_URL's server; the run uses its own database FUZZ_DATABASE, default
# poddesk_fuzz) and Redis (FUZZ_REDIS_URL, default db 4, emptied).
set -uo pipefail
cd "$(dirname "$0")/.."

export FUZZ_MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-100}"
export FUZZ_STATEFUL_STEPS="${FUZZ_STATEFUL_STEPS:-8}"
export FUZZ_STATEFUL_EXAMPLES="${FUZZ_STATEFUL_EXAMPLES:-30}"
export FUZZ_SEED="${FUZZ_SEED:-$RANDOM$RANDOM}"
export FUZZ_SUMMARY="${FUZZ_SUMMARY:-$(mktemp -t poddesk-fuzz-XXXXXX.json)}"
rm -f "$FUZZ_SUMMARY"
PYTHON="${PYTHON:-.venv/bin/python}"
LOG="${FUZZ_LOG:-$(mktemp -t poddesk-fuzz-XXXXXX.log)}"

echo "fuzz: $FUZZ_MAX_EXAMPLES examples per operation and role, stateful $FUZZ_STATEFUL_EXAMPLES x $FUZZ_STATEFUL_STEPS steps," \
     "seed $FUZZ_SEED; machine: $(nproc) cores, $(uname -sr)"
start=$(date +%s)
"$PYTHON" -m pytest -q -p no:cacheprovider --hypothesis-seed="$FUZZ_SEED" tests/fuzz "$@" >"$LOG" 2>&1
status=$?
elapsed=$(( $(date +%s) - start ))

"$PYTHON" - "$FUZZ_SUMMARY" "$LOG" "$status" "$elapsed" <<'PY'
import json, os, re, sys
summary, log, status, elapsed = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
data = {"operations": [], "requests": 0, "statuses": {}, "failures": {}}
if os.path.exists(summary):
    data = json.load(open(summary))
text = open(log, errors="replace").read()
outcome = (re.findall(r"^=*\s*(\d+ (?:passed|failed).*?) in [\d.]+s", text, re.M) or ["(no pytest summary)"])[-1]
print(f"operations tested: {len(data['operations'])}")
print(f"requests made:     {data['requests']}  ({elapsed} s)")
print("statuses:          " + ", ".join(f"{k}: {v}" for k, v in sorted(data["statuses"].items())))
print(f"pytest:            {outcome}")
failures = data["failures"]
print(f"failures:          {sum(len(v) for v in failures.values())} (operation, kind) pairs, {len(failures)} distinct kinds")
for kind, operations in sorted(failures.items()):
    print(f"  - {kind}: {len(operations)} operation(s)")
    for label in operations[:10]:
        print(f"      {label}")
if status != 0:
    failed = re.findall(r"^(?:FAILED|ERROR) (.+)$", text, re.M)
    for line in failed[:30]:
        print(f"  pytest: {line[:200]}")
    print(f"full log: {log}")
PY
exit $status
