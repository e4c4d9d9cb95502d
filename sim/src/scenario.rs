//! Scenario files, format version 1: JSON in, a validated [`World`] out, and back.
//!
//! The format is the public, stable interface of gatesim (every field, default and fault
//! kind is documented in `scenarios/README.md`). Reading
//! goes in three steps, each reporting every problem it finds rather than the first:
//!
//! 1. JSON syntax (line and column; duplicate keys are syntax errors here), and a scan of
//!    every string for values that look like real API keys;
//! 2. shape: `raw` serde types with `deny_unknown_fields`, one list element at a time, so
//!    a typo in `faults[0]` does not hide one in `faults[3]`;
//! 3. meaning (`validate`, with the toolbox in `ctx`): units, ranges, references between entities (with the list of
//!    known ids), fields a fault kind does not take, time order.
//!
//! [`to_json`] writes a `World` back as a version-1 file such that
//! `parse(&to_json(&w)) == Ok(w)` for every world [`parse`] produced.

mod capabilities;
mod catalog;
mod ctx;
mod expect;
mod faults;
mod lenient;
mod policy;
mod raw;
mod text;
mod validate;
mod workload;
mod write;

#[cfg(test)]
mod tests;

use crate::world::World;
use ctx::Ctx;
pub use policy::{preset, preset_names, PRESETS};
use raw::{Item, RawScenario};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::path::Path;
use thiserror::Error;

pub use faults::{FAULT_KINDS, SWARM_KINDS};
pub use text::{format_duration, parse_duration};
pub use write::to_json;

/// The format version this module reads and writes.
pub const VERSION: u64 = 1;

/// The default `epoch_unix_s`: 2026-01-01T00:00:00Z, the wall-clock time of `t+0` that
/// HTTP-date `Retry-After` values are relative to.
pub const EPOCH_UNIX_S_DEFAULT: u64 = 1_767_225_600;

/// One problem with a scenario file. Messages never contain a secret.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ScenarioError {
    /// A field is wrong: `faults[2].until: before faults[2].at (2m < 5m)`.
    #[error("{path}: {problem}")]
    Field {
        /// Where, as a path into the file (`credentials[1].provider`, `version`).
        path: String,
        /// What is wrong, and what would be right.
        problem: String,
    },
    /// The text is not valid JSON.
    #[error("line {line}, column {column}: {problem}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser expected.
        problem: String,
    },
    /// The file could not be read.
    #[error("{problem}")]
    Io {
        /// The OS error with the file name.
        problem: String,
    },
}

impl ScenarioError {
    /// The field path of a field error.
    pub fn path(&self) -> Option<&str> {
        match self {
            ScenarioError::Field { path, .. } => Some(path),
            _ => None,
        }
    }

    fn field(path: impl Into<String>, problem: impl Into<String>) -> ScenarioError {
        ScenarioError::Field {
            path: text::redact(&path.into()),
            problem: text::redact(&problem.into()),
        }
    }
}

/// Parses and validates a scenario file's text into a [`World`]; on failure, every
/// problem found, in file order where possible. Never panics.
pub fn parse(text: &str) -> Result<World, Vec<ScenarioError>> {
    let value = match serde_json::from_str::<StrictValue>(text) {
        Ok(StrictValue(v)) => v,
        Err(e) => return Err(vec![syntax_error(&e)]),
    };
    let mut ctx = Ctx::default();
    if !value.is_object() {
        ctx.err(
            "(file)",
            "a scenario is a JSON object ({ \"version\": 1, ... })",
        );
        return Err(ctx.errors);
    }
    scan_secrets(&value, &mut String::new(), &mut ctx);
    let raw: Item<RawScenario> = Item::read(value);
    ctx.problems("", &raw.problems);
    let world = raw.value.map(|r| validate::build(&r, &mut ctx));
    match world {
        Some(w) if ctx.errors.is_empty() => Ok(w),
        _ => {
            let mut errors = ctx.errors;
            if errors.is_empty() {
                // Unreachable by construction (an unread file records why); never return Err([]).
                errors.push(ScenarioError::field(
                    "(file)",
                    "cannot be read as a scenario",
                ));
            }
            dedup(&mut errors);
            Err(errors)
        }
    }
}

/// `text` with every secret-looking run (`sk-…`, `AIza…`, ...) replaced by its redacted
/// form, for messages that quote what a user typed.
pub fn redact(text: &str) -> String {
    text::redact(text)
}

/// Reads JSON text as scenario files are read: duplicate keys in one object are errors
/// (for a policy file spliced into a scenario, so that nothing is silently shadowed).
pub fn read_json(text: &str) -> Result<Value, ScenarioError> {
    serde_json::from_str::<StrictValue>(text)
        .map(|StrictValue(v)| v)
        .map_err(|e| syntax_error(&e))
}

/// Reads and parses a scenario file. I/O failures are reported as one [`ScenarioError::Io`].
pub fn load(path: &Path) -> Result<World, Vec<ScenarioError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ScenarioError::Io {
            problem: format!("cannot read {}: {e}", path.display()),
        }]
    })?;
    parse(&text)
}

fn dedup(errors: &mut Vec<ScenarioError>) {
    let mut seen: Vec<ScenarioError> = Vec::with_capacity(errors.len());
    errors.retain(|e| {
        if seen.contains(e) {
            false
        } else {
            seen.push(e.clone());
            true
        }
    });
}

fn syntax_error(e: &serde_json::Error) -> ScenarioError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let problem = full.strip_suffix(&suffix).unwrap_or(&full);
    ScenarioError::Syntax {
        line: e.line(),
        column: e.column(),
        problem: text::redact(problem),
    }
}

/// Every string value (and key) that looks like a real API key is an error.
fn scan_secrets(value: &Value, path: &mut String, ctx: &mut Ctx) {
    let at = |path: &str| {
        if path.is_empty() {
            "(file)".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        Value::String(s) => {
            if let Some(shown) = text::find_secret(s) {
                ctx.err(at(path), secret_problem(&shown));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                scan_secrets(v, path, ctx);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                if let Some(shown) = text::find_secret(k) {
                    ctx.err(at(path), secret_problem(&shown));
                }
                scan_secrets(v, path, ctx);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn secret_problem(shown: &str) -> String {
    format!(
        "looks like a real API key ({shown}); credentials in scenario files are labels \
         (\"k0\", \"org-openai\"), never secrets: remove it and rotate the key"
    )
}

/// A JSON value read with duplicate object keys rejected (serde_json keeps the last one
/// silently, which would hide a typo such as a second `status`).
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key {} in one object",
                    text::quote(&key)
                )));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}
