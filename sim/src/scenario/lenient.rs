//! Serde building blocks of the scenario reader: parts of a file that may be broken on
//! their own ([`Item`]), duration text and numbers with friendly type errors.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
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
            match serde_path_to_error::deserialize::<_, T>(Strict(&value)) {
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

/// A JSON value read strictly: a struct must be a JSON object. serde's derived structs
/// also accept a positional array (`["k0", "google-ai-studio", "org"]`, F13): an
/// undocumented second syntax whose meaning shifts when a field is added, so
/// `deserialize_struct` refuses arrays. Everything else reads as `serde_json::Value`
/// reads, with the same messages.
struct Strict<'a>(&'a Value);

/// Field names a positional-array message lists before "…".
const FIELDS_LISTED_MAX: usize = 3;

impl<'de> Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, f) => visitor.visit_f64(f.unwrap_or(f64::NAN)),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visitor.visit_seq(StrictSeq(a.iter())),
            Value::Object(m) => visitor.visit_map(StrictMap {
                entries: m.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if let Value::Array(_) = self.0 {
            let mut names = fields[..fields.len().min(FIELDS_LISTED_MAX)].join(", ");
            if fields.len() > FIELDS_LISTED_MAX {
                names.push_str(", …");
            }
            return Err(de::Error::custom(format!(
                "a positional array is not accepted here: write an object with named fields ({names})"
            )));
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// The elements of an array, each read strictly.
struct StrictSeq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for StrictSeq<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Self::Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Strict(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The entries of an object, each value read strictly.
struct StrictMap<'a> {
    entries: serde_json::map::Iter<'a>,
    /// The value of the key last read.
    value: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for StrictMap<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Self::Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Strict(v)),
            None => Err(de::Error::custom("a map value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
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
