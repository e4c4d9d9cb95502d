//! The validation toolbox every section uses: the error collector ([`Ctx`]), the declared
//! ids of each kind of entity ([`Index`], [`Names`]), and the wording of serde's
//! structural messages as field paths and problems.
//!
//! Every problem is collected; nothing stops at the first. A list with an element that
//! could not be read at all is "incomplete": references into it are not reported as
//! unknown, since the referent may be the unreadable element.

use super::raw::{missing_field, Item, Seg};
use super::text::{closest, known_list, parse_duration, quote};
use super::ScenarioError;
use gatesim_core::Duration;
use std::collections::BTreeMap;

/// Longest duration a scenario may state: 10 years. Sums of times and durations stay
/// far from `u64` overflow, in milliseconds and in microseconds.
pub(super) const DURATION_MAX_MS: u64 = 87_600 * 3_600_000;

/// Longest latency (`latency.p50`, `latency.p99`, a spike's `extra`): 1 hour.
pub(super) const LATENCY_MAX_MS: u64 = 3_600_000;

/// Collected errors.
#[derive(Debug, Default)]
pub(super) struct Ctx {
    /// Every error so far, in the order found.
    pub errors: Vec<ScenarioError>,
}

impl Ctx {
    /// Records an error at `path`.
    pub(super) fn err(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(ScenarioError::field(path, problem));
    }

    /// Records an item's structural problems under `base`.
    pub(super) fn problems(&mut self, base: &str, problems: &[(Vec<Seg>, String)]) {
        for (segs, message) in problems {
            let (path, problem) = describe(base, segs, message);
            self.err(path, problem);
        }
    }

    /// An item's value, recording its problems under `path`.
    pub(super) fn item<'a, T>(&mut self, path: &str, item: &'a Item<T>) -> Option<&'a T> {
        self.problems(path, &item.problems);
        item.value.as_ref()
    }

    /// Whether a structural error was already recorded at `path` (or below it).
    pub(super) fn has_error_at(&self, path: &str) -> bool {
        self.errors.iter().any(|e| {
            e.path().is_some_and(|p| {
                p == path
                    || p.strip_prefix(path)
                        .is_some_and(|r| r.starts_with(['.', '[']))
            })
        })
    }

    /// Parses a duration field, at most [`DURATION_MAX_MS`].
    pub(super) fn duration(&mut self, path: &str, text: &str) -> Option<Duration> {
        self.bounded(path, text, DURATION_MAX_MS, "10 years (3650d)")
    }

    /// Parses a latency field (`latency.p50`, `extra`, ...), at most [`LATENCY_MAX_MS`].
    pub(super) fn latency(&mut self, path: &str, text: &str) -> Option<Duration> {
        self.bounded(path, text, LATENCY_MAX_MS, "1h")
    }

    fn bounded(&mut self, path: &str, text: &str, max_ms: u64, max: &str) -> Option<Duration> {
        match parse_duration(text) {
            Ok(ms) if ms <= max_ms => Some(Duration::from_ms(ms)),
            Ok(_) => {
                self.err(path, format!("{} is too long (at most {max})", quote(text)));
                None
            }
            Err(problem) => {
                self.err(path, problem);
                None
            }
        }
    }

    /// Picks one of a fixed set of names (`style`, `mode`, ...).
    pub(super) fn choose<T: Copy>(
        &mut self,
        path: &str,
        what: &str,
        value: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        if let Some((_, v)) = options.iter().find(|(n, _)| *n == value) {
            return Some(*v);
        }
        self.err(
            path,
            format!(
                "unknown {what} {} (known: {})",
                quote(value),
                known_list(options.iter().map(|(n, _)| *n))
            ),
        );
        None
    }

    /// Checks an entity id: non-empty, no whitespace or control characters.
    pub(super) fn id(&mut self, path: &str, id: &str) {
        if id.is_empty() {
            self.err(path, "empty (an id is a short label such as \"k0\")");
        } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.err(
                path,
                format!("{} contains whitespace or a control character", quote(id)),
            );
        }
    }

    /// Checks a scenario id: also a file name (`shrink` writes `<id>-seed<N>-min.json`
    /// beside the scenario), so only letters, digits, `-`, `_` and `.`, not first.
    pub(super) fn file_id(&mut self, path: &str, id: &str) {
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if id.is_empty() || !id.chars().all(safe) || id.starts_with('.') || id.len() > 100 {
            self.err(
                path,
                format!(
                    "{} is not a safe file name (letters, digits, '-', '_' and '.', \
                     not first; at most 100 characters)",
                    quote(id)
                ),
            );
        }
    }

    /// Checks free text (a title, a model name): no control characters, which would
    /// forge lines of the trace or reach the terminal as escapes.
    pub(super) fn text(&mut self, path: &str, text: &str) {
        if text.chars().any(char::is_control) {
            self.err(
                path,
                format!("{} contains a control character", quote(text)),
            );
        }
    }
}

/// The declared ids of one kind of entity, in declaration order (= index order).
#[derive(Debug)]
pub(super) struct Index {
    what: &'static str,
    names: Vec<String>,
    paths: Vec<String>,
    /// Position of each name, so that checking n ids is not quadratic in n.
    by_name: BTreeMap<String, u32>,
    /// False when some element could not be read at all.
    pub complete: bool,
}

impl Index {
    pub(super) fn new(what: &'static str) -> Index {
        Index {
            what,
            names: Vec::new(),
            paths: Vec::new(),
            by_name: BTreeMap::new(),
            complete: true,
        }
    }

    /// The index of a declared id.
    pub(super) fn position(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The declared ids.
    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Declares an id; a duplicate is an error and is not declared.
    pub(super) fn add(&mut self, ctx: &mut Ctx, path: &str, name: &str) -> bool {
        if let Some(i) = self.position(name) {
            let first = &self.paths[i as usize];
            ctx.err(
                path,
                format!(
                    "duplicate {} id {} (first at {first})",
                    self.what,
                    quote(name)
                ),
            );
            return false;
        }
        let position = u32::try_from(self.names.len()).expect("ids fit a u32 (files are < 4 GiB)");
        self.by_name.insert(name.to_owned(), position);
        self.names.push(name.to_owned());
        self.paths.push(path.to_owned());
        true
    }

    /// Resolves a reference; an unknown id is an error listing the known ones (unless the
    /// list is incomplete, where the referent may be the unreadable element).
    pub(super) fn resolve(&self, ctx: &mut Ctx, path: &str, name: &str) -> Option<u32> {
        let found = self.position(name);
        if found.is_none() && self.complete {
            ctx.err(
                path,
                format!(
                    "unknown {} {} (known: {})",
                    self.what,
                    quote(name),
                    known_list(self.names())
                ),
            );
        }
        found
    }
}

/// The ids of every kind of entity.
#[derive(Debug)]
pub(super) struct Names {
    /// Regions.
    pub regions: Index,
    /// Providers.
    pub providers: Index,
    /// Models and aliases.
    pub models: Index,
    /// Credentials.
    pub credentials: Index,
    /// Projects.
    pub projects: Index,
}

/// Turns a serde message into a path and a problem a scenario author can act on.
fn describe(base: &str, segs: &[Seg], message: &str) -> (String, String) {
    let path = join(base, segs);
    let path = if path.is_empty() {
        "(file)".to_owned()
    } else {
        path
    };
    if let Some(field) = missing_field(message) {
        let full = if path == "(file)" {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return (full, "missing (this field is required)".to_owned());
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let mut quoted = rest.split('`');
        let name = quoted.next().unwrap_or_default();
        // The expected names are every other backtick-quoted token after the name.
        let expected: Vec<&str> = quoted.skip(1).step_by(2).collect();
        let problem = match closest(name, expected.iter().copied()) {
            Some(c) => format!("unknown field (did you mean {}?)", quote(c)),
            None if expected.is_empty() => "unknown field (this object takes no fields)".to_owned(),
            None => format!("unknown field (expected one of: {})", expected.join(", ")),
        };
        return (path, problem);
    }
    (path, friendly_types(message))
}

/// Rust type names in serde messages, in words.
fn friendly_types(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, words) in [
        ("expected u16", "expected an integer from 0 to 65535"),
        ("expected u32", "expected an integer from 0 to 4294967295"),
        ("expected u64", "expected an integer of 0 or more"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected an object"),
    ] {
        out = out.replace(rust, words);
    }
    if let Some(at) = out.find("expected struct Raw") {
        out.truncate(at);
        out.push_str("expected an object");
    }
    out
}

/// Appends item-relative path segments to a base path.
fn join(base: &str, segs: &[Seg]) -> String {
    let mut out = base.to_owned();
    for seg in segs {
        match seg {
            // A key that is not a plain name is quoted, so a message never carries a
            // file's control characters (terminal escapes, forged lines) to the reader.
            Seg::Key(k) if k.chars().any(char::is_control) => {
                out.push_str(&format!("[{}]", quote(k)));
            }
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}
