#!/usr/bin/env bash
# Mutation score of gatesim-core, judged by the invariants alone. See docs/mutants.md.
#
#   tools/mutants.sh [--seed S] [--sample N] [options]
#
# Lists gatesim-core's mutants with a pinned cargo-mutants, samples N of them from seed S
# (same arguments, same commit: same sample), and judges each one in a scratch copy of
# the workspace under target/mutants-work: apply the patch, build the release gatesim,
# run the incident library with every `expect` block removed plus 12 seeds of each swarm
# world, revert. The workspace itself is never written to (only target/).
set -euo pipefail

CARGO_MUTANTS_VERSION=27.1.0

usage() {
    cat <<'EOF'
usage: tools/mutants.sh [options]

  --seed S            sample seed (default 1)
  --sample N          mutants to judge (default 70; 0 = all of them)
  --timeout-factor F  a run times out after F x its clean time (default 10; at least 20 s)
  --jobs J            sweep worker threads (default 2)
  --no-expect         do not re-run survivors with the scenarios' expect blocks
  --equivalent FILE   mutant names judged equivalent by hand (default tools/mutants-equivalent.txt)
  --resume            keep results.jsonl rows of the same sample and judge only the rest
  --list              only list and sample (writes target/mutants/sample/), judge nothing
  --summary           only rewrite target/mutants/summary.md from results.jsonl
  --out DIR           results directory (default target/mutants)
  --work DIR          scratch copy and its target dir (default target/mutants-work)
  -h, --help          this text

Results: DIR/results.jsonl (one line per mutant, written as it is judged), DIR/summary.md,
DIR/logs/NNN.{build,incidents,swarm,expect}.log, DIR/sample/NNN.patch.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER="$ROOT/tools/mutants_helper.py"
SEED=1
SAMPLE=70
FACTOR=10
JOBS=2
EXPECT=1
RESUME=0
MODE=run
OUT="$ROOT/target/mutants"
EQUIVALENT="$ROOT/tools/mutants-equivalent.txt"
MIN_TIMEOUT=20
WORK="$ROOT/target/mutants-work"

while [ $# -gt 0 ]; do
    case "$1" in
        --seed) SEED=$2; shift 2 ;;
        --sample) SAMPLE=$2; shift 2 ;;
        --timeout-factor) FACTOR=$2; shift 2 ;;
        --jobs) JOBS=$2; shift 2 ;;
        --no-expect) EXPECT=0; shift ;;
        --equivalent) EQUIVALENT=$(realpath -m "$2"); shift 2 ;;
        --resume) RESUME=1; shift ;;
        --list) MODE=list; shift ;;
        --summary) MODE=summary; shift ;;
        --out) OUT=$(realpath -m "$2"); shift 2 ;;
        --work) WORK=$(realpath -m "$2"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "mutants.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
for n in "$SEED" "$SAMPLE" "$FACTOR" "$JOBS"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "mutants.sh: $n is not a number" >&2; exit 2; }
done

SRC="$WORK/src"                 # the scratch copy of the workspace
NOEXPECT="$WORK/incidents-noexpect"
BIN="$WORK/target/release/gatesim"
TOOL="$ROOT/target/tools/bin/cargo-mutants"
RESULTS="$OUT/results.jsonl"
META="$OUT/meta.json"

# The release profile, made cheaper to rebuild 70 times: no LTO, parallel codegen,
# incremental, no debug info. Same semantics as the shipped profile (opt-level 3, no
# debug assertions, no overflow checks); only code layout and speed differ.
export CARGO_TARGET_DIR="$WORK/target"
export CARGO_PROFILE_RELEASE_LTO=off
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
export CARGO_PROFILE_RELEASE_INCREMENTAL=true
export CARGO_PROFILE_RELEASE_DEBUG=0
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS   # keep .cargo/config.toml's --cfg madsim

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "mutants.sh: $*" >&2; exit 1; }

summary() {
    python3 "$HELPER" summary "$RESULTS" "$OUT/summary.md" "$EQUIVALENT" "$META"
}

if [ "$MODE" = summary ]; then
    summary
    exit 0
fi

# --- 1. cargo-mutants, pinned, under target/tools -------------------------------------
if ! "$TOOL" mutants --version 2>/dev/null | grep -qx "cargo-mutants $CARGO_MUTANTS_VERSION"; then
    log "installing cargo-mutants $CARGO_MUTANTS_VERSION into target/tools (once, a few minutes)"
    nice -n 10 cargo install --locked --quiet cargo-mutants \
        --version "$CARGO_MUTANTS_VERSION" --root "$ROOT/target/tools" --force
fi

# --- 2. list gatesim-core's mutants, 3. sample them -------------------------------------
mkdir -p "$OUT/logs"
COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD)
git -C "$ROOT" diff --quiet HEAD -- core sim scenarios || COMMIT="$COMMIT-dirty"
log "listing gatesim-core's mutants"
(cd "$ROOT" && "$TOOL" mutants --list --json --diff --package gatesim-core) >"$OUT/list.json.new"
mv "$OUT/list.json.new" "$OUT/list.json"
rm -rf "$OUT/sample"
python3 "$HELPER" sample "$OUT/list.json" "$SEED" "$SAMPLE" "$OUT/sample"
TOTAL=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$OUT/list.json")
[ "$MODE" = list ] && { log "sample in $OUT/sample/sample.jsonl"; exit 0; }

# --- 4. the scratch copy: tracked and untracked (not ignored) files, no target/ --------
CURRENT_FILE=""   # a file of the copy while a patch is applied to it
CHILD=""
restore_current() {
    if [ -n "$CURRENT_FILE" ]; then
        cp "$WORK/original" "$SRC/$CURRENT_FILE"
        CURRENT_FILE=""
    fi
}
on_signal() {
    trap - INT TERM
    log "interrupted: reverting and writing the summary"
    [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null && wait "$CHILD" 2>/dev/null
    restore_current
    summary || true
    exit 130
}
trap on_signal INT TERM
trap restore_current EXIT

# Runs a command in the background and waits for it, so a signal is handled at once;
# prints nothing, returns the command's status.
run() {
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

log "copying the workspace to $SRC"
rm -rf "$SRC"
mkdir -p "$SRC"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$SRC"
# Fresh mtimes, so cargo never mistakes an old build of a mutant for this source.
find "$SRC" -name '*.rs' -exec touch {} +
(cd "$SRC" && find core sim -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/manifest"
python3 "$HELPER" strip "$SRC/scenarios/incidents" "$NOEXPECT" >/dev/null

build() { # LOG
    (cd "$SRC" && nice -n 10 timeout --kill-after=10 1800 \
        cargo build --release --locked -p gatesim-blackbox --bin gatesim) >"$1" 2>&1
}

# Classifies one run by its exit status and stderr: pass, violation, input, panic,
# crash or timeout.
status_of() { # RC LOG
    local rc=$1
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo timeout
    elif grep -q "panicked at" "$2"; then echo panic
    elif [ "$rc" -eq 0 ]; then echo pass
    elif [ "$rc" -eq 1 ]; then echo violation
    elif [ "$rc" -eq 2 ]; then echo input
    else echo crash
    fi
}

# The two judging runs; sets INC_STATUS, SWARM_STATUS and their wall times in ms.
judge() { # PREFIX INC_TIMEOUT SWARM_TIMEOUT
    local rc t0
    t0=$(date +%s%N); rc=0
    run nice -n 10 timeout --kill-after=5 "$2" "$BIN" run "$NOEXPECT" -q >"$1.incidents.log" 2>&1 || rc=$?
    INC_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    INC_STATUS=$(status_of "$rc" "$1.incidents.log")
    t0=$(date +%s%N); rc=0
    run nice -n 10 timeout --kill-after=5 "$3" "$BIN" sweep "$SRC/scenarios/swarm" \
        --seeds 0..12 --jobs "$JOBS" >"$1.swarm.log" 2>&1 || rc=$?
    SWARM_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    SWARM_STATUS=$(status_of "$rc" "$1.swarm.log")
}

# The trace hash of every judged run (each incident without expect, each swarm world x
# seed), one "name hash" line each: a survivor whose hashes all equal the baseline's made
# exactly the baseline's decisions and events in every judged run.
digest() { # OUT
    local f s h
    : >"$1"
    for f in "$NOEXPECT"/*.json; do
        h=$(nice -n 10 timeout --kill-after=5 "$INC_TIMEOUT" "$BIN" run "$f" -q 2>/dev/null |
            sed -n 's/^\(PASS\|FAIL\) trace \([0-9a-f]*\)$/\2/p' | tail -1) || true
        echo "$(basename "$f" .json) ${h:-none}" >>"$1"
    done
    for f in "$SRC"/scenarios/swarm/*.json; do
        for s in $(seq 0 11); do
            h=$(nice -n 10 timeout --kill-after=5 "$INC_TIMEOUT" "$BIN" run "$f" --seed "$s" -q 2>/dev/null |
                sed -n 's/^\(PASS\|FAIL\) trace \([0-9a-f]*\)$/\2/p' | tail -1) || true
            echo "$(basename "$f" .json)@$s ${h:-none}" >>"$1"
        done
    done
}

# --- the clean baseline: the unmutated copy must pass everything ----------------------
log "baseline: building the unmutated gatesim (the first time: a few minutes)"
t0=$(date +%s)
run build "$OUT/logs/baseline.build.log" || die "the unmutated workspace does not build: $OUT/logs/baseline.build.log"
BUILD_S=$(( $(date +%s) - t0 ))
judge "$OUT/logs/baseline" 600 600
[ "$INC_STATUS" = pass ] || die "baseline: the expect-less incident library does not pass ($INC_STATUS): $OUT/logs/baseline.incidents.log"
[ "$SWARM_STATUS" = pass ] || die "baseline: the swarm sweep does not pass ($SWARM_STATUS): $OUT/logs/baseline.swarm.log"
if [ "$EXPECT" = 1 ]; then
    rc=0; run "$BIN" run "$SRC/scenarios/incidents" -q >"$OUT/logs/baseline.expect.log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || die "baseline: the incident library with expect blocks fails: $OUT/logs/baseline.expect.log"
fi
secs() { local s=$(( ($1 * FACTOR + 999) / 1000 )); [ "$s" -lt "$MIN_TIMEOUT" ] && s=$MIN_TIMEOUT; echo "$s"; }
INC_TIMEOUT=$(secs "$INC_MS")
SWARM_TIMEOUT=$(secs "$SWARM_MS")
BASE_SHA=$(sha256sum "$BIN" | cut -d' ' -f1)
run digest "$OUT/logs/baseline.traces"
grep -q ' none$' "$OUT/logs/baseline.traces" && die "baseline: a run printed no trace hash: $OUT/logs/baseline.traces"
log "baseline passes: build ${BUILD_S} s, incidents ${INC_MS} ms, swarm ${SWARM_MS} ms;" \
    "timeouts ${INC_TIMEOUT} s and ${SWARM_TIMEOUT} s"

python3 - "$META" <<EOF
import json, sys
meta = {"seed": $SEED, "sample": $(python3 -c 'import sys; print(sum(1 for _ in open(sys.argv[1])))' "$OUT/sample/sample.jsonl"),
        "total": $TOTAL, "commit": "$COMMIT", "tool": "cargo-mutants $CARGO_MUTANTS_VERSION",
        "started": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "baseline_build_s": $BUILD_S,
        "baseline_incidents_ms": $INC_MS, "baseline_swarm_ms": $SWARM_MS,
        "timeouts_s": [$INC_TIMEOUT, $SWARM_TIMEOUT]}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF

# --- 4./5. judge every sampled mutant ----------------------------------------------------
KEY="$COMMIT seed $SEED sample $SAMPLE"
if [ "$RESUME" = 1 ] && [ -f "$RESULTS" ]; then
    python3 - "$RESULTS" "$KEY" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keep = [r for r in rows if r.get("key") == sys.argv[2]]
with open(sys.argv[1], "w") as f:
    for r in keep:
        f.write(json.dumps(r) + "\n")
print(f"resuming: {len(keep)} mutants already judged")
EOF
else
    : >"$RESULTS"
fi

N=$(wc -l <"$OUT/sample/sample.jsonl")
while IFS= read -r -u 3 row; do
    eval "$(python3 -c '
import json, shlex, sys
r = json.loads(sys.argv[1])
for k in ("index", "file", "line", "name", "patch"):
    print(f"M_{k.upper()}={shlex.quote(str(r[k]))}")
' "$row")"
    if [ "$RESUME" = 1 ] && python3 -c '
import json, sys
sys.exit(0 if any(json.loads(l).get("name") == sys.argv[2] for l in open(sys.argv[1]) if l.strip()) else 1)
' "$RESULTS" "$M_NAME"; then
        continue
    fi
    P=$(printf '%s/logs/%03d' "$OUT" "$M_INDEX")
    log "[$((M_INDEX + 1))/$N] $M_NAME"
    t0=$(date +%s)

    cp "$SRC/$M_FILE" "$WORK/original"
    CURRENT_FILE=$M_FILE
    patch --batch --forward --silent "$SRC/$M_FILE" "$M_PATCH" >"$P.patch.log" 2>&1 ||
        die "patch $M_PATCH does not apply to $M_FILE (see $P.patch.log)"

    VERDICT="" HOW="" INC_STATUS="" SWARM_STATUS="" INVARIANTS="" EXPECT_CATCHES="" SAME_BIN="" TRACE_DIFFS=""
    rc=0; run build "$P.build.log" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        VERDICT=timeout HOW=build
    elif [ "$rc" -ne 0 ]; then
        VERDICT=unviable
    else
        [ "$(sha256sum "$BIN" | cut -d' ' -f1)" = "$BASE_SHA" ] && SAME_BIN=1 || SAME_BIN=0
        judge "$P" "$INC_TIMEOUT" "$SWARM_TIMEOUT"
        statuses="$INC_STATUS $SWARM_STATUS"
        if [[ "$statuses" == *violation* ]]; then VERDICT=killed HOW=invariant
        elif [[ "$statuses" == *panic* ]]; then VERDICT=killed HOW=panic
        elif [[ "$statuses" == *crash* ]]; then VERDICT=killed HOW=crash
        elif [[ "$statuses" == *input* ]]; then VERDICT=killed HOW=rejected-input
        elif [[ "$statuses" == *timeout* ]]; then VERDICT=timeout HOW=run
        else VERDICT=survived
        fi
        INVARIANTS=$(python3 "$HELPER" invariants "$P.incidents.log" "$P.swarm.log")
        if [ "$VERDICT" = survived ] && [ "$EXPECT" = 1 ]; then
            rc=0
            run nice -n 10 timeout --kill-after=5 "$INC_TIMEOUT" "$BIN" run "$SRC/scenarios/incidents" -q \
                >"$P.expect.log" 2>&1 || rc=$?
            [ "$rc" -eq 0 ] && EXPECT_CATCHES=0 || EXPECT_CATCHES=1
        fi
        if [ "$VERDICT" = survived ]; then
            run digest "$P.traces"
            TRACE_DIFFS=$(awk 'NR == FNR { base[$1] = $2; next } base[$1] != $2 { print $1 }' \
                "$OUT/logs/baseline.traces" "$P.traces" | paste -sd, -)
            TRACE_DIFFS=${TRACE_DIFFS:-none}
        fi
    fi

    restore_current
    # Never go on from a modified copy.
    (cd "$SRC" && sha256sum --quiet --check "$WORK/manifest") >/dev/null ||
        die "the scratch copy differs from the workspace after reverting $M_NAME"

    M_VERDICT=$VERDICT M_HOW=$HOW M_INC=$INC_STATUS M_SWARM=$SWARM_STATUS \
        M_INVARIANTS=$INVARIANTS M_EXPECT=$EXPECT_CATCHES M_SAME_BIN=$SAME_BIN M_TRACES=$TRACE_DIFFS M_KEY=$KEY \
        M_SECONDS=$(( $(date +%s) - t0 )) M_INDEX=$M_INDEX M_NAME=$M_NAME M_FILE=$M_FILE \
        M_LINE=$M_LINE python3 "$HELPER" record "$RESULTS"
    log "    -> $VERDICT${HOW:+ ($HOW)}${INVARIANTS:+: $INVARIANTS} in $(( $(date +%s) - t0 )) s"
done 3<"$OUT/sample/sample.jsonl"

trap - INT TERM
summary
log "results: $RESULTS, $OUT/summary.md"
