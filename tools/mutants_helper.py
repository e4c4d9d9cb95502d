#!/usr/bin/env python3
"""JSON handling for tools/mutants.sh: sampling, expect-less scenarios, verdicts, summary.

Subcommands (all paths explicit; the shell script owns the workflow):
  sample LIST.json SEED N OUT_DIR     write OUT_DIR/NNN.patch + OUT_DIR/sample.jsonl
  strip SRC_DIR DST_DIR               copy scenarios with the `expect` block removed
  invariants LOG...                   print the invariants named as failed in gatesim output
  record RESULTS.jsonl                append one verdict given in M_* environment variables
  summary RESULTS.jsonl OUT.md [EQUIVALENT.txt] [META.json]
"""
import json
import os
import random
import re
import sys


def mutant_name(m):
    """cargo-mutants' own one-line name: file:line:col: description."""
    if m.get("name"):
        return m["name"]
    span = m.get("span") or {}
    start = span.get("start") or {}
    return f'{m["file"]}:{start.get("line", 0)}:{start.get("column", 0)}: {describe(m)}'


def describe(m):
    """The description part of the name (what cargo-mutants prints after file:line:col)."""
    name = m.get("name") or ""
    match = re.match(r"^[^:]+:\d+:\d+: (.*)$", name, re.S)
    if match:
        return match.group(1)
    func = (m.get("function") or {}).get("function_name", "?")
    return f'{m.get("genre", "?")} in {func}: {m.get("replacement", "?")}'


def sample(list_path, seed, n, out_dir):
    with open(list_path, encoding="utf-8") as f:
        mutants = json.load(f)
    # A stable order that does not depend on how cargo-mutants walks the tree.
    mutants.sort(key=lambda m: (m["file"], m["span"]["start"]["line"],
                                m["span"]["start"]["column"], mutant_name(m)))
    n = len(mutants) if n <= 0 else min(n, len(mutants))
    picked = sorted(random.Random(seed).sample(range(len(mutants)), n))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "sample.jsonl"), "w", encoding="utf-8") as out:
        for i, k in enumerate(picked):
            m = mutants[k]
            patch = os.path.join(out_dir, f"{i:03d}.patch")
            with open(patch, "w", encoding="utf-8") as p:
                p.write(m["diff"])
            row = {
                "index": i,
                "list_index": k,
                "file": m["file"],
                "line": m["span"]["start"]["line"],
                "name": mutant_name(m),
                "description": describe(m),
                "function": (m.get("function") or {}).get("function_name"),
                "genre": m.get("genre"),
                "patch": patch,
            }
            out.write(json.dumps(row) + "\n")
    print(f"{n} of {len(mutants)} mutants sampled (seed {seed})")


def strip(src, dst):
    os.makedirs(dst, exist_ok=True)
    count = 0
    for name in sorted(os.listdir(src)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(src, name), encoding="utf-8") as f:
            doc = json.load(f)
        doc.pop("expect", None)
        with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        count += 1
    print(f"{count} scenarios copied without expect to {dst}")


INVARIANT = re.compile(r"^[a-z]+(-[a-z]+)+$")


def invariants(paths):
    """Failed invariant ids from `gatesim run DIR -q` tables and `gatesim sweep` FAIL lines."""
    found = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            names = []
            sweep = re.match(r"^FAIL \S+ seed \d+: (.*)$", line)
            if sweep:
                names = [s.strip() for s in sweep.group(1).split(";")]
            elif line.rstrip().endswith("FAIL") and not line.startswith(" "):
                cols = line.split()
                if len(cols) >= 7:
                    names = cols[5].split(",")
            for name in names:
                if INVARIANT.match(name) and name not in found:
                    found.append(name)
    print(",".join(found))


def load_equivalent(path):
    """Mutant names judged equivalent by hand, one per line (# starts a comment)."""
    names = set()
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    names.add(line)
    return names


def summary(results_path, out_md, equivalent_path=None, meta_path=None):
    rows = []
    if os.path.exists(results_path):
        with open(results_path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    meta = {}
    if meta_path and os.path.exists(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    equivalent = load_equivalent(equivalent_path)
    count = {k: 0 for k in ("killed", "survived", "unviable", "timeout")}
    panics = 0
    for r in rows:
        count[r["verdict"]] = count.get(r["verdict"], 0) + 1
        if r["verdict"] == "killed" and r.get("how") == "panic":
            panics += 1
    viable = count["killed"] + count["survived"] + count["timeout"]
    equiv = [r for r in rows if r["verdict"] == "survived" and r["name"] in equivalent]
    denominator = viable - len(equiv)
    score = count["killed"] / denominator if denominator else 0.0
    raw = count["killed"] / viable if viable else 0.0
    planned = meta.get("sample")
    lines = [
        "# Mutation score of gatesim-core, judged by the invariants alone",
        "",
        f"- sample: {len(rows)} mutants judged"
        + (f" of {planned} planned" if planned else "")
        + (f", seed {meta['seed']}" if "seed" in meta else "")
        + (f", from {meta['total']} listed" if "total" in meta else ""),
    ]
    if meta:
        lines.append(f"- commit {meta.get('commit', '?')}, {meta.get('tool', '?')}, "
                     f"started {meta.get('started', '?')}")
    lines += [
        f"- killed {count['killed']} (of which {panics} by a panic), survived {count['survived']}, "
        f"unviable {count['unviable']}, timeout {count['timeout']}",
        f"- equivalent (by hand, `{os.path.basename(equivalent_path or '-')}`): {len(equiv)}",
        f"- **score = killed / (viable - equivalent) = {count['killed']}/{denominator} = {score:.1%}** "
        f"(viable = killed + survived + timeout; without the equivalence list {raw:.1%})",
        "",
        "| # | mutant | verdict | caught by | expect catches? | traces vs baseline |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = r["verdict"]
        if verdict == "killed" and r.get("how") not in (None, "invariant"):
            verdict += f" ({r['how']})"
        if r["name"] in equivalent:
            verdict += " (equivalent)"
        caught = r.get("invariants") or ""
        expect = {True: "yes", False: "no"}.get(r.get("expect_catches"), "")
        name = r["name"].replace("|", "\\|")
        traces = ""
        if "trace_differs_in" in r:
            d = r["trace_differs_in"]
            traces = "identical" if not d else f"differ in {len(d)} runs ({', '.join(d[:3])}{', ...' if len(d) > 3 else ''})"
        lines.append(f"| {r['index']} | `{name}` | {verdict} | {caught} | {expect} | {traces} |")
    with open(out_md, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:8]))


def record(results_path):
    """Append one verdict, passed in M_* environment variables, to results.jsonl."""
    env = os.environ
    row = {
        "index": int(env["M_INDEX"]),
        "key": env["M_KEY"],
        "name": env["M_NAME"],
        "file": env["M_FILE"],
        "line": int(env["M_LINE"]),
        "verdict": env["M_VERDICT"],
    }
    if env.get("M_HOW"):
        row["how"] = env["M_HOW"]
    if env.get("M_INC"):
        row["runs"] = {"incidents": env["M_INC"], "swarm": env["M_SWARM"]}
    if env.get("M_INVARIANTS"):
        row["invariants"] = env["M_INVARIANTS"]
    if env.get("M_EXPECT"):
        row["expect_catches"] = env["M_EXPECT"] == "1"
    if env.get("M_SAME_BIN"):
        row["same_binary_as_baseline"] = env["M_SAME_BIN"] == "1"
    if env.get("M_TRACES"):
        diffs = [] if env["M_TRACES"] == "none" else env["M_TRACES"].split(",")
        row["trace_differs_in"] = diffs
    row["seconds"] = int(env["M_SECONDS"])
    with open(results_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "sample":
        sample(args[0], int(args[1]), int(args[2]), args[3])
    elif cmd == "strip":
        strip(args[0], args[1])
    elif cmd == "invariants":
        invariants(args)
    elif cmd == "record":
        record(args[0])
    elif cmd == "summary":
        summary(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
