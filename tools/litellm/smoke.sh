#!/usr/bin/env bash
# The LiteLLM smoke CI runs: installs the pinned proxy (tools/litellm/install.sh) and drives
# it through three black-box scenarios whose verdicts do not depend on LiteLLM's random
# pick of a deployment (docs/gateways/litellm.md):
#   - bb-region-lock-consistency holds every invariant under LiteLLM's defaults;
#   - retried-attempt-never-cools (F1, LiteLLM #32574) breaks cooldown-respected;
#   - uncapped-retry-after (F3, new) breaks no-false-exhaustion under the tuned settings.
# A changed verdict fails the smoke: either LiteLLM or the harness changed, and the report
# must be read again. Usage: tools/litellm/smoke.sh [GATESIM_BINARY]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
G="${1:-target/debug/gatesim}"
[ -x "$G" ] || { echo "litellm smoke: $G is not built (cargo build -p gatesim-blackbox)" >&2; exit 1; }

tools/litellm/install.sh

fail=0
expect() { # EXIT INVARIANT-OR-PASS ADAPTER SCENARIO
    local want_rc=$1 want=$2 adapter=$3 scenario=$4 rc=0 out
    out="$("$G" blackbox "$scenario" --gateway "$adapter" -q)" || rc=$?
    local row
    row="$(echo "$out" | head -1)"
    if [ "$rc" -ne "$want_rc" ] || ! echo "$row" | grep -q -- "$want"; then
        echo "litellm smoke: FAILED $scenario through $adapter: exit $rc (want $want_rc), want '$want' in:" >&2
        echo "$out" >&2
        fail=1
    else
        echo "litellm smoke: ok     $row"
    fi
}
expect 0 "all hold" litellm scenarios/blackbox/bb-region-lock-consistency.json
expect 1 "cooldown-respected" litellm docs/gateways/litellm/retried-attempt-never-cools.json
expect 1 "no-false-exhaustion" litellm-tuned docs/gateways/litellm/uncapped-retry-after.json
exit "$fail"
