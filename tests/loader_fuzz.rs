//! Malformed scenario files for the loader: the real incident files, mutated (fields
//! deleted, duplicated, retyped, wrapped in arrays, nested deep, huge numbers, control
//! characters, random bytes), and a check that the loader answers each with `Ok` or
//! `Err` — never a panic, never a hang.
//!
//! Used by the bounded property in `properties/loader_fuzz.rs` (part of `cargo test`) and
//! by the `fuzz_loader` example for long runs:
//!
//! ```sh
//! cargo run -p gatesim-tests --profile test --example fuzz_loader -- 100000
//! ```

use serde_json::{Map, Value};
use std::sync::mpsc;
use std::time::Duration;

/// Longest a single load may take before it counts as a hang. Inputs stay below
/// [`INPUT_BYTES_MAX`], which a healthy loader reads in milliseconds.
pub const HANG_AFTER: Duration = Duration::from_secs(10);

/// Largest input a case produces: mutations that grow the file stop there.
pub const INPUT_BYTES_MAX: usize = 64 * 1024;

/// Mutations applied to one file, at most.
pub const MUTATIONS_MAX: u64 = 4;

/// How one load ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The file was valid.
    Loaded,
    /// The file was refused with this many problems.
    Refused(usize),
    /// The loader panicked, with this message.
    Panicked(String),
    /// The loader did not answer within [`HANG_AFTER`].
    Hung,
}

/// The incident files' texts, in name order.
pub fn incident_texts() -> Vec<String> {
    let dir = crate::root().join("scenarios/incidents");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the incident library")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("an incident file"))
        .collect()
}

/// A small deterministic generator (SplitMix64): each case is replayable from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for one case.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.bits() % n
        }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Values that replace a field: wrong types, bounds and beyond, hostile text.
const REPLACEMENTS: &[&str] = &[
    "null",
    "true",
    "0",
    "-1",
    "1.5",
    "1e308",
    "-1e308",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "65536",
    "\"\"",
    "\"x\"",
    "[]",
    "{}",
    "[null]",
    "\"99999999999999999999d\"",
    "\"3650d1ms\"",
    "\"-1d\"",
    "\"1.5.5s\"",
    "\"1d2d\"",
    "\"0.0000000000000000000001s\"",
    "\"\\u0000\\u001b[31m\\n\\r\\t\"",
    "\"k0\\nFAIL forged\"",
    "\"sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7k\"",
    "\"reference\"",
    "\"key_invalid\"",
    "\"google-ai-studio\"",
];

/// One malformed file: incident `texts[seed % len]` with up to [`MUTATIONS_MAX`]
/// mutations, or (now and then) plain random bytes.
pub fn mutated_case(texts: &[String], seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let base = rng.pick(texts);
    if rng.below(50) == 0 {
        let len = rng.below(256) as usize;
        return (0..len).map(|_| rng.bits() as u8).collect();
    }
    let mut value: Value = serde_json::from_str(base).expect("incident files are JSON");
    for _ in 0..=rng.below(MUTATIONS_MAX) {
        if rng.below(5) == 0 {
            // Byte-level, on the text as it stands; when it is no longer JSON, it is the case.
            let mut bytes = value.to_string().into_bytes();
            mutate_bytes(&mut bytes, &mut rng);
            match serde_json::from_slice(&bytes) {
                Ok(v) => value = v,
                Err(_) => return cap(bytes),
            }
        } else {
            mutate_value(&mut value, &mut rng);
        }
    }
    cap(duplicate_key(&value, &mut rng).unwrap_or_else(|| value.to_string().into_bytes()))
}

/// At most [`INPUT_BYTES_MAX`] bytes.
fn cap(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(INPUT_BYTES_MAX);
    bytes
}

/// One byte-level mutation: flip, insert, delete or repeat bytes, insert a control
/// character, or cut the text short.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    if bytes.is_empty() {
        bytes.push(rng.bits() as u8);
        return;
    }
    let at = rng.below(bytes.len() as u64) as usize;
    match rng.below(6) {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes.insert(at, rng.bits() as u8),
        2 => {
            let end = (at + 1 + rng.below(16) as usize).min(bytes.len());
            bytes.drain(at..end);
        }
        3 => {
            let end = (at + 1 + rng.below(64) as usize).min(bytes.len());
            let run: Vec<u8> = bytes[at..end].to_vec();
            bytes.splice(at..at, run);
        }
        4 => bytes.insert(at, *rng.pick(&[0u8, 7, 8, 0x1b, b'\n', b'\r', 0x7f])),
        _ => bytes.truncate(at),
    }
}

/// Loads `bytes` on a worker thread: `Ok`/`Err` from the loader, a caught panic, or a
/// hang after [`HANG_AFTER`] (the worker is then left behind).
pub fn load(bytes: Vec<u8>) -> Outcome {
    load_with(bytes, parse, HANG_AFTER)
}

/// The scenario loader's answer as an [`Outcome`].
fn parse(text: &str) -> Outcome {
    match gatesim_sim::scenario::parse(text) {
        Ok(_) => Outcome::Loaded,
        Err(errors) => Outcome::Refused(errors.len()),
    }
}

/// Runs `parse` on `bytes` (lossily decoded) on a worker thread, catching a panic and
/// giving up after `hang_after`.
pub fn load_with(bytes: Vec<u8>, parse: fn(&str) -> Outcome, hang_after: Duration) -> Outcome {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let text = String::from_utf8_lossy(&bytes);
        let outcome = std::panic::catch_unwind(|| parse(&text)).unwrap_or_else(|payload| {
            Outcome::Panicked(
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_default(),
            )
        });
        let _ = tx.send(outcome);
    });
    rx.recv_timeout(hang_after).unwrap_or(Outcome::Hung)
}

/// A random node of `value` (the root included), reached by random steps.
fn random_node<'a>(value: &'a mut Value, rng: &mut Rng) -> &'a mut Value {
    let mut node = value;
    loop {
        let len = match &*node {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if len == 0 || rng.below(4) == 0 {
            return node;
        }
        let i = rng.below(len as u64) as usize;
        node = match node {
            Value::Object(m) => m.values_mut().nth(i).expect("i < len"),
            Value::Array(a) => &mut a[i],
            _ => unreachable!("len is 0 for scalars"),
        };
    }
}

/// One structural mutation at a random node.
fn mutate_value(value: &mut Value, rng: &mut Rng) {
    let choice = rng.below(8);
    let node = random_node(value, rng);
    match choice {
        // Delete a field or an element.
        0 => match node {
            Value::Object(m) if !m.is_empty() => {
                let key = m.keys().nth(rng.below(m.len() as u64) as usize).cloned();
                if let Some(k) = key {
                    m.remove(&k);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(rng.below(a.len() as u64) as usize);
            }
            _ => *node = Value::Null,
        },
        // Retype: a replacement value.
        1 | 2 => {
            *node =
                serde_json::from_str(rng.pick::<&str>(REPLACEMENTS)).expect("replacements are JSON")
        }
        // Positional: an object as the array of its values, or a value wrapped in one.
        3 => {
            *node = match node.take() {
                Value::Object(m) => Value::Array(m.into_iter().map(|(_, v)| v).collect()),
                other => Value::Array(vec![other]),
            }
        }
        // Deep nesting.
        4 => {
            let depth = rng.below(160);
            let mut v = node.take();
            for _ in 0..depth {
                v = if rng.below(2) == 0 {
                    Value::Array(vec![v])
                } else {
                    let mut m = Map::new();
                    m.insert("a".to_string(), v);
                    Value::Object(m)
                };
            }
            *node = v;
        }
        // An unknown or misspelt field.
        5 => {
            if let Value::Object(m) = node {
                let key = ["fualts", "Id", "", "\u{1b}[2J", "version ", "__proto__"];
                m.insert(rng.pick(&key).to_string(), Value::Bool(true));
            }
        }
        // Grow a list by repeating an element.
        6 => {
            if let Value::Array(a) = node {
                if let Some(first) = a.first().cloned() {
                    let n = rng.below(64) as usize;
                    a.extend(std::iter::repeat_n(first, n));
                }
            }
        }
        // A long or control-character string.
        _ => {
            let n = rng.below(2000) as usize;
            let c = *rng.pick(&['a', '\u{0}', '\u{7f}', '-', '9', 'é', '\u{202e}']);
            *node = Value::String(std::iter::repeat_n(c, n).collect());
        }
    }
}

/// Now and then, the file's text with one key of a random object written twice (JSON
/// text can say what a `Value` cannot).
fn duplicate_key(value: &Value, rng: &mut Rng) -> Option<Vec<u8>> {
    if rng.below(8) != 0 {
        return None;
    }
    let mut copy = value.clone();
    let marker = Value::String("\u{0}gatesim-dup\u{0}".to_string());
    let node = random_node(&mut copy, rng);
    let Value::Object(m) = node else {
        return None;
    };
    let (k, v) = m.iter().next().map(|(k, v)| (k.clone(), v.clone()))?;
    let mut body = format!("{{{}:{},", Value::String(k.clone()), v);
    body.push_str(&Value::Object(m.clone()).to_string()[1..]);
    *node = marker.clone();
    Some(
        copy.to_string()
            .replace(&marker.to_string(), &body)
            .into_bytes(),
    )
}

/// Lines of a long run's report.
pub fn report(cases: u64, outcomes: &[(u64, Outcome)]) -> String {
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
    let loaded = count(|o| *o == Outcome::Loaded);
    let refused = count(|o| matches!(o, Outcome::Refused(_)));
    let panics: Vec<&(u64, Outcome)> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Panicked(_)))
        .collect();
    let hangs: Vec<u64> = outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Hung)
        .map(|(s, _)| *s)
        .collect();
    let mut out = format!(
        "{cases} cases: {loaded} loaded, {refused} refused, {} panics, {} hangs\n",
        panics.len(),
        hangs.len()
    );
    for (seed, o) in panics.iter().take(20) {
        out.push_str(&format!("panic at seed {seed}: {o:?}\n"));
    }
    for seed in hangs.iter().take(20) {
        out.push_str(&format!("hang at seed {seed}\n"));
    }
    out
}
