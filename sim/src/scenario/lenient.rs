//! Serde building blocks of the scenario reader: parts of a file that may be broken on
//! their own ([`Item`]), duration text and numbers with friendly type errors.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// Keys removed and retried at most this many times in one object (a limit on everything).
const RETRIES_MAX: usize = 64;

/// A part of the file that may be broken on its own: the value when it could be read
/// (possibly after dropping the offending fields), and every structural problem found.
///
/// Lists hold `Item`s so one bad element does not hide the problems of the others.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Item<T> {
    /// The value, if it could be read.
    pub value: Option<T>,
    /// Problems: path segments relative to this item, and the message.
    pub problems: Vec<(Vec<Seg>, String)>,
}

/// One step of a path inside an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    /// An object key.
    Key(String),
    /// A list index.
    Index(usize),
}

impl<T> Item<T> {
    /// A value with no problems (what the writer builds).
    pub(super) fn ok(value: T) -> Item<T> {
        Item {
            value: Some(value),
            problems: Vec::new(),
        }
    }
}

impl<T: DeserializeOwned> Item<T> {
    /// Reads `value` as a `T`. When a field is wrong, the problem is recorded, the field is
    /// dropped and reading is retried, so that the other fields are still checked; a field
    /// reported missing after its wrong value was dropped is not reported twice.
    pub(super) fn read(mut value: Value) -> Item<T> {
        let mut problems = Vec::new();
        let mut dropped: Vec<String> = Vec::new();
        for _ in 0..RETRIES_MAX {
            match serde_path_to_error::deserialize::<_, T>(&value) {
                Ok(t) => {
                    return Item {
                        value: Some(t),
                        problems,
                    }
                }
                Err(e) => {
                    let path = segments(e.path());
                    let message = e.inner().to_string();
                    let repeat =
                        missing_field(&message).is_some_and(|f| dropped.iter().any(|d| d == f));
                    if !repeat {
                        problems.push((path.clone(), message));
                    }
                    let first = match path.first() {
                        Some(Seg::Key(k)) => Some(k.clone()),
                        _ => None,
                    };
                    let removed = match (&mut value, first) {
                        (Value::Object(map), Some(k)) => map.remove(&k).map(|_| k),
                        _ => None,
                    };
                    match removed {
                        Some(k) => dropped.push(k),
                        None => break,
                    }
                }
            }
        }
        Item {
            value: None,
            problems,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(Item::read(value))
    }
}

impl<T: Serialize> Serialize for Item<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.value {
            Some(v) => v.serialize(serializer),
            None => serializer.serialize_unit(),
        }
    }
}

fn segments(path: &serde_path_to_error::Path) -> Vec<Seg> {
    path.iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
            serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect()
}

/// The field name of serde's "missing field `x`" message.
pub(super) fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// A duration or time offset as written (`"30s"`); parsed by `validate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DurText(pub String);

impl Serialize for DurText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DurText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a duration string with a unit ("500ms", "30s", "2m", "1h")"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurText, E> {
                Ok(DurText(v.to_owned()))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A JSON number read as `f64` (rates, fractions); written as an integer when it is one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Number(pub f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Exact integers below 2^53 print without a fraction ("5", not "5.0").
        if self.0.fract() == 0.0 && self.0.abs() < 9_007_199_254_740_992.0 {
            return serializer.serialize_i64(self.0 as i64);
        }
        serializer.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}
