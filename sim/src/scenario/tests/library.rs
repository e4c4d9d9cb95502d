//! The files shipped with gatesim (incidents, swarm worlds, broken fixtures) and
//! arbitrary input.

use super::{render, FULL};
use crate::scenario::{load, parse, text, to_json, SWARM_KINDS};
use gatesim_core::Regression;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn json_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_incident_file_loads_round_trips_and_names_its_knob() {
    let dir = repo().join("scenarios/incidents");
    let files = json_files(&dir);
    for file in &files {
        let w = load(file).unwrap_or_else(|e| panic!("{}:\n{}", file.display(), render(&e)));
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert_eq!(w.id, stem, "{}: id is the file stem", file.display());
        assert!(
            !w.title.is_empty() && !w.source.is_empty(),
            "{stem}: title and source"
        );
        assert!(
            !w.expect.is_empty(),
            "{stem}: pins the correct outcome with expect entries"
        );
        assert!(
            (5..=30).contains(&w.workload.requests.len()),
            "{stem}: 5 to 30 explicit requests"
        );
        assert!(
            Regression::parse(stem).is_some(),
            "{stem}: not an incident id of the catalogue"
        );
        assert_eq!(parse(&to_json(&w)).as_ref(), Ok(&w), "{stem}: round trip");
    }
    for knob in Regression::ALL {
        assert!(
            dir.join(format!("{}.json", knob.incident())).exists(),
            "no scenario for {}",
            knob.incident()
        );
    }
    assert_eq!(
        files.len(),
        Regression::ALL.len(),
        "one file per incident, nothing else"
    );
}

#[test]
fn swarm_files_load_round_trip_and_name_every_fault_kind() {
    let files = json_files(&repo().join("scenarios/swarm"));
    assert!(!files.is_empty());
    for file in &files {
        let w = load(file).unwrap_or_else(|e| panic!("{}:\n{}", file.display(), render(&e)));
        assert!(!w.workload.generators.is_empty() && !w.swarm.is_empty());
        assert_eq!(
            parse(&to_json(&w)).as_ref(),
            Ok(&w),
            "{}: round trip",
            file.display()
        );
        if w.id == "mixed" {
            let kinds: Vec<&str> = w.swarm.iter().map(|s| s.kind.as_str()).collect();
            assert_eq!(kinds, SWARM_KINDS, "mixed names every kind a swarm draws");
        }
    }
}

/// What `gatesim shrink` writes: a swarm world with its faults resolved for a seed.
#[test]
fn swarm_resolved_worlds_are_written_back_loadably() {
    let w = load(&repo().join("scenarios/swarm/mixed.json")).expect("mixed.json loads");
    for seed in 0..64 {
        let resolved = crate::swarm::resolve(&w, seed);
        let text = to_json(&resolved);
        assert_eq!(parse(&text).as_ref(), Ok(&resolved), "seed {seed}:\n{text}");
    }
}

#[test]
fn broken_fixtures_report_the_field_and_the_problem() {
    let dir = repo().join("tests/fixtures/broken");
    let table = std::fs::read_to_string(dir.join("EXPECTED.tsv"))
        .expect("EXPECTED.tsv lists every fixture");
    let mut listed = Vec::new();
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (file, expected) = line.split_once('\t').unwrap_or((line, ""));
        listed.push(dir.join(file));
        let result = load(&dir.join(file));
        if expected.is_empty() {
            assert!(result.is_ok(), "{file} should load: {:?}", result.err());
            continue;
        }
        let errors = result.expect_err(file);
        let shown = render(&errors);
        assert!(
            shown.contains(expected),
            "{file}: no error contains {expected:?}; got:\n{shown}"
        );
        assert!(
            text::find_secret(&shown).is_none(),
            "{file}: an error echoes a secret:\n{shown}"
        );
    }
    listed.sort();
    assert_eq!(
        listed,
        json_files(&dir),
        "EXPECTED.tsv and the fixture files match one to one"
    );
    assert!(listed.len() >= 16);
}

/// Mutated incident files, random JSON and random bytes: the loader answers, never panics,
/// and whatever loads round-trips.
#[test]
fn arbitrary_input_never_panics() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5ce7a210);
    let mut corpus: Vec<String> = json_files(&repo().join("scenarios/incidents"))
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    corpus.push(FULL.to_owned());
    let values = [
        "null",
        "-1",
        "0",
        "1e308",
        "18446744073709551616",
        "\"\"",
        "\"x\"",
        "\"-0s\"",
        "\"99999999999h\"",
        "[]",
        "{}",
        "[[[[[[[[1]]]]]]]]",
        "true",
        "0.5",
        "\"sk-\"",
        "{\"kind\": \"rate_limit\"}",
    ];
    for round in 0..600 {
        let base = &corpus[rng.random_range(0..corpus.len())];
        let mut text = base.clone();
        for _ in 0..rng.random_range(1..4) {
            text = mutate(&text, &mut rng, &values);
        }
        if round % 50 == 0 {
            text = (0..rng.random_range(0..200))
                .map(|_| rng.random_range(0x20u8..0x7f) as char)
                .collect();
        }
        if let Ok(w) = parse(&text) {
            assert_eq!(
                parse(&to_json(&w)),
                Ok(w),
                "round trip after mutation:\n{text}"
            );
        }
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse(&deep).is_err());
}

fn mutate(text: &str, rng: &mut ChaCha8Rng, values: &[&str]) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return values[rng.random_range(0..values.len())].to_owned();
    }
    let at = rng.random_range(0..chars.len());
    let mut out: Vec<char> = chars.clone();
    match rng.random_range(0..5) {
        0 => {
            out.remove(at);
        }
        1 => out.insert(
            at,
            ['{', '}', '"', ',', ':', '[', ']', '0', 'x'][rng.random_range(0..9)],
        ),
        2 => out.truncate(at),
        3 => {
            // Replace the value after a colon with another JSON value.
            if let Some(colon) = chars[at..].iter().position(|c| *c == ':').map(|p| p + at) {
                let end = chars[colon + 1..]
                    .iter()
                    .position(|c| *c == ',' || *c == '}')
                    .map_or(chars.len(), |p| p + colon + 1);
                let value: Vec<char> = format!(" {}", values[rng.random_range(0..values.len())])
                    .chars()
                    .collect();
                out.splice(colon + 1..end, value);
            }
        }
        _ => {
            // Swap two identifiers' worth of text: shuffles references and field names.
            let other = rng.random_range(0..chars.len());
            out.swap(at, other);
        }
    }
    out.into_iter().collect()
}
