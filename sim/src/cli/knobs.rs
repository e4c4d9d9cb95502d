//! `gatesim knobs`: every regression knob, the bug it puts back and the incident file
//! that reproduces it.

use gatesim_core::Regression;
use std::fmt::Write as _;
use std::path::Path;

/// The incident file of a knob, when the incident directory holds it.
fn incident_file(incidents: &Path, knob: Regression) -> Option<String> {
    let p = incidents.join(format!("{}.json", knob.incident()));
    p.is_file().then(|| p.display().to_string())
}

/// The knob table as text (one row per knob, in catalogue order) or as a JSON array.
pub(super) fn render(incidents: &Path, json: bool) -> String {
    if json {
        let rows: Vec<serde_json::Value> = Regression::ALL
            .iter()
            .map(|k| {
                serde_json::json!({
                    "name": k.name(),
                    "incident": k.incident(),
                    "summary": k.summary(),
                    "file": incident_file(incidents, *k),
                })
            })
            .collect();
        return format!("{}\n", serde_json::Value::Array(rows));
    }
    let width = |f: fn(&Regression) -> usize| Regression::ALL.iter().map(f).max().unwrap_or(0);
    let (wn, wi) = (width(|k| k.name().len()), width(|k| k.incident().len()));
    let ws = width(|k| k.summary().chars().count());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<wn$}  {:<wi$}  {:<ws$}  reproduced by",
        "knob", "incident", "puts back"
    );
    for k in Regression::ALL {
        let file = incident_file(incidents, *k).unwrap_or_else(|| "-".to_string());
        let _ = writeln!(
            out,
            "{:<wn$}  {:<wi$}  {:<ws$}  {file}",
            k.name(),
            k.incident(),
            k.summary()
        );
    }
    let _ = writeln!(
        out,
        "{} knobs; turn one on with --regression KNOB (name or incident id) on run, sweep, diff or shrink",
        Regression::ALL.len()
    );
    out
}

/// Prints the table; exit status 2 when an incident file is missing (the library is
/// incomplete), else 0.
pub(super) fn knobs(incidents: &Path, json: bool) -> u8 {
    print!("{}", render(incidents, json));
    let missing: Vec<&str> = Regression::ALL
        .iter()
        .filter(|k| incident_file(incidents, **k).is_none())
        .map(|k| k.incident())
        .collect();
    if missing.is_empty() {
        0
    } else {
        eprintln!(
            "gatesim: {} holds no incident file for {}",
            incidents.display(),
            missing.join(", ")
        );
        2
    }
}
