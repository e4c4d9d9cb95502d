#!/usr/bin/env bash
# The LiteLLM smoke CI runs: installs the pinned proxy (tools/litellm/install.sh) and drives
# it through three black-box scenarios whose verdicts do not depend on LiteLLM's random
# pick of a deployment (docs/gateways/litellm.md):
#   - bb-region-lock-consistency holds every invariant under LiteLLM's defaults;
#   - retried-attempt-never-cools (F1, LiteLLM #32574) breaks cooldown-respected;
#   - uncapped-retry-after (F3, new) breaks no-false-exhaustion under the tuned settings.
# And one that does, on purpose: credential weights 8:1:1 must reach LiteLLM's
# simple-shuffle as deployment weights (adapters/litellm_render.py), so k0 serves at least
# 36 of 60 requests (about 48 expected; about 20 if the weights were lost; either miss is
# over 3.8 standard deviations away).
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
weights() {
    local history rc=0 k0 all
    history="$(mktemp -d)/weighted.jsonl"
    "$G" blackbox docs/gateways/litellm/weighted-deployments.json --gateway litellm -q \
        --history "$history" >/dev/null || rc=$?
    k0="$(grep -c '"type":"attempt".*"credential":"k0"' "$history" || true)"
    all="$(grep -c '"type":"attempt"' "$history" || true)"
    if [ "$rc" -ne 1 ] || [ "$all" -ne 60 ] || [ "$k0" -lt 36 ]; then
        echo "litellm smoke: FAILED weighted-deployments: exit $rc (want 1: primary-first), k0 sent $k0 of $all attempts (want at least 36 of 60)" >&2
        fail=1
    else
        echo "litellm smoke: ok     weighted-deployments: k0 sent $k0 of $all attempts (weights 8:1:1)"
    fi
}
weights
exit "$fail"
