//! `gatesim merge-sweeps`: the shards of one sweep (`sweep --shard I/N --summary-json F`)
//! put back together, reported exactly as the unsharded sweep reports.

use super::sweep::{Failure, Shard, Summary, SUMMARY_VERSION};
use gatesim_core::Regression;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A summary file as written by `sweep --summary-json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryFile {
    v: u64,
    kind: String,
    path: String,
    seeds: [u64; 2],
    shard: [u64; 2],
    // Absent in summaries written before sweeps took `--policy`: no policy file.
    #[serde(default)]
    policy: Option<String>,
    knobs: Vec<String>,
    scenarios: usize,
    runs: usize,
    failures: Vec<FailureFile>,
}

/// `failures[i]` of a summary file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureFile {
    file: String,
    scenario: String,
    seed: u64,
    failures: Vec<String>,
}

/// Merges the summaries and prints the merged report; returns the exit status: 1 when
/// a run failed, 2 when the files are not every shard of one sweep.
pub(super) fn merge_sweeps(files: &[PathBuf]) -> u8 {
    match merged(files) {
        Ok((summary, knobs)) => {
            print!("{}", summary.render(&knobs));
            u8::from(!summary.failures.is_empty())
        }
        Err(e) => {
            eprintln!("gatesim: merge-sweeps: {e}");
            2
        }
    }
}

/// The union of every shard of one sweep, as one unsharded summary.
fn merged(files: &[PathBuf]) -> Result<(Summary, Vec<Regression>), String> {
    let parts: Vec<Summary> = files.iter().map(|f| read(f)).collect::<Result<_, _>>()?;
    let Some(first) = parts.first() else {
        return Err("no summary files".to_string());
    };
    for (p, f) in parts.iter().zip(files).skip(1) {
        let differs = if p.path != first.path {
            Some("path")
        } else if p.seeds != first.seeds {
            Some("seeds")
        } else if p.policy != first.policy {
            Some("policy")
        } else if p.knobs != first.knobs {
            Some("knobs")
        } else if p.shard.count != first.shard.count {
            Some("shard count")
        } else if p.scenarios != first.scenarios {
            Some("scenario count")
        } else {
            None
        };
        if let Some(what) = differs {
            return Err(format!(
                "{} and {} are not shards of one sweep: their {what} differs",
                files[0].display(),
                f.display()
            ));
        }
    }
    let count = first.shard.count;
    for index in 1..=count {
        let given: Vec<&PathBuf> = parts
            .iter()
            .zip(files)
            .filter(|(p, _)| p.shard.index == index)
            .map(|(_, f)| f)
            .collect();
        let shard = Shard { index, count };
        match given.as_slice() {
            [] => return Err(format!("shard {shard} is missing")),
            [_] => {}
            [a, b, ..] => {
                return Err(format!(
                    "shard {shard} is given twice ({}, {})",
                    a.display(),
                    b.display()
                ))
            }
        }
    }
    let knobs = first
        .knobs
        .iter()
        .map(|k| Regression::parse(k).ok_or_else(|| format!("unknown knob {k:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut failures: Vec<Failure> = parts.iter().flat_map(|p| p.failures.clone()).collect();
    // The unsharded sweep's order: files in name order, then seeds.
    failures.sort_by(|a, b| (&a.file, a.seed).cmp(&(&b.file, b.seed)));
    let summary = Summary {
        path: first.path.clone(),
        seeds: first.seeds.clone(),
        shard: Shard::ALL,
        policy: first.policy.clone(),
        knobs: first.knobs.clone(),
        scenarios: first.scenarios,
        runs: parts.iter().map(|p| p.runs).sum(),
        failures,
    };
    Ok((summary, knobs))
}

/// Reads one summary file; errors name the file and the field.
fn read(path: &Path) -> Result<Summary, String> {
    let at = |e: String| format!("{}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| at(format!("cannot read it ({e})")))?;
    let mut de = serde_json::Deserializer::from_str(&text);
    let f: SummaryFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        at(format!("{field}: {}", e.inner()))
    })?;
    if f.v != SUMMARY_VERSION || f.kind != "sweep" {
        return Err(at(format!(
            "not a sweep summary of version {SUMMARY_VERSION} (v {}, kind {:?})",
            f.v, f.kind
        )));
    }
    let [start, end] = f.seeds;
    if end <= start {
        return Err(at(format!("seeds: empty range {start}..{end}")));
    }
    let shard = Shard::parse(&format!("{}/{}", f.shard[0], f.shard[1]))
        .map_err(|e| at(format!("shard: {e}")))?;
    Ok(Summary {
        path: f.path,
        seeds: start..end,
        shard,
        policy: f.policy,
        knobs: f.knobs,
        scenarios: f.scenarios,
        runs: f.runs,
        failures: f
            .failures
            .into_iter()
            .map(|x| Failure {
                file: PathBuf::from(x.file),
                scenario: x.scenario,
                seed: x.seed,
                failures: x.failures,
            })
            .collect(),
    })
}
