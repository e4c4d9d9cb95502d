//! Identifier newtypes: small indices into the gateway's configuration.

use std::fmt;

macro_rules! index_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);

        impl $name {
            /// The index into the configuration's list.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

index_id!(
    /// A provider (an upstream API such as `openai` or `google-ai-studio`).
    ProviderId,
    "provider#"
);
index_id!(
    /// A region of the world.
    RegionId,
    "region#"
);
index_id!(
    /// A canonical model of the catalog.
    ModelId,
    "model#"
);
index_id!(
    /// A credential (API key), referenced by id only: the core never holds secrets.
    KeyId,
    "key#"
);
index_id!(
    /// A project (tenant) whose mode decides which credentials it may use.
    ProjectId,
    "project#"
);

/// A client request, numbered in submission order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// One upstream attempt, numbered in dispatch order across the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt#{}", self.0)
    }
}

/// The unit a health record is about: a stable model identifier.
///
/// A scope is the FNV-1a hash of a model name, so arbitrary client-supplied model
/// names need no intern table (which would itself grow without bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(pub u64);

impl Scope {
    /// The credential-wide record (used only by regression knobs that drop scoping).
    pub const UNSCOPED: Scope = Scope(0);

    /// The scope of a model name.
    pub fn of(name: &str) -> Scope {
        Scope(fnv1a(name.as_bytes()).max(1))
    }

    /// This scope narrowed to one region: consecutive-error health is about a
    /// (credential, model) *in a region*, so an outage in one region never fences the
    /// same key in another (llmgateway #1977: "scope retry health by model and region").
    pub fn in_region(self, region: crate::id::RegionId) -> Scope {
        let mut bytes = [0u8; 13];
        bytes[..8].copy_from_slice(&self.0.to_le_bytes());
        bytes[8..12].copy_from_slice(&region.0.to_le_bytes());
        bytes[12] = b'@';
        Scope(fnv1a(&bytes).max(1))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Scope::UNSCOPED {
            f.write_str("*")
        } else {
            write!(f, "scope:{:016x}", self.0)
        }
    }
}

/// 64-bit FNV-1a: stable across platforms and releases (unlike `DefaultHasher`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_stable_and_never_unscoped() {
        assert_eq!(Scope::of("gpt-4o"), Scope::of("gpt-4o"));
        assert_ne!(Scope::of("gpt-4o"), Scope::of("gpt-4o-mini"));
        assert_ne!(Scope::of(""), Scope::UNSCOPED);
        // FNV-1a test vector.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
