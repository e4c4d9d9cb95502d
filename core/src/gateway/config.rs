//! Configuration checks: every reference in the catalog points inside its list, and every
//! policy value the engine divides, counts or waits by is in range.

use crate::catalog::{Catalog, Credential};
use crate::policy::Policy;
use crate::time::Duration;
use thiserror::Error;

/// A configuration the gateway cannot run with.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A reference points outside its list.
    #[error("{what} {index} does not exist")]
    Dangling {
        /// What kind of reference.
        what: &'static str,
        /// The index.
        index: usize,
    },
    /// A credential's weight is out of range.
    #[error("credential {index}: weight must be 1 to 1000000")]
    Weight {
        /// The credential.
        index: usize,
    },
    /// A policy value is out of range.
    #[error("policy.{field}: {problem}")]
    Policy {
        /// Field.
        field: &'static str,
        /// Problem.
        problem: &'static str,
    },
}

/// A policy range rule: the field, whether a policy satisfies it, and what is wrong if not.
type Rule = (&'static str, fn(&Policy) -> bool, &'static str);

/// Every policy range check, in the order they are reported: one bound each, so a zero
/// cannot empty the attempt budget, the health table, the attempt clock or a history.
const POLICY_RULES: [Rule; 4] = [
    (
        "attempts_max",
        |p| p.attempts_max >= 1,
        "must be at least 1",
    ),
    ("scopes_max", |p| p.scopes_max >= 1, "must be at least 1"),
    (
        "attempt_timeout",
        |p| p.attempt_timeout > Duration::ZERO,
        "must be positive",
    ),
    (
        "history_entries_max",
        |p| p.history_entries_max >= 1,
        "must be at least 1",
    ),
];

/// Checks a catalog's references, then the policy's ranges; the first problem is returned.
pub(super) fn validate(catalog: &Catalog, policy: &Policy) -> Result<(), ConfigError> {
    references(catalog)?;
    for (field, holds, problem) in POLICY_RULES {
        if !holds(policy) {
            return Err(ConfigError::Policy { field, problem });
        }
    }
    Ok(())
}

/// Every provider region, mapping, alias member and credential reference is in range, and
/// an alias names only non-alias models.
fn references(catalog: &Catalog) -> Result<(), ConfigError> {
    let check = |what: &'static str, index: usize, len: usize| {
        if index < len {
            Ok(())
        } else {
            Err(ConfigError::Dangling { what, index })
        }
    };
    for p in &catalog.providers {
        for r in &p.regions {
            check("region", r.index(), catalog.regions.len())?;
        }
    }
    for m in &catalog.models {
        for s in &m.served_by {
            check("provider", s.provider.index(), catalog.providers.len())?;
            check("region", s.region.index(), catalog.regions.len())?;
        }
        for a in &m.alias_of {
            check("model", a.index(), catalog.models.len())?;
            if catalog.model(*a).is_alias() {
                return Err(ConfigError::Dangling {
                    what: "non-alias model",
                    index: a.index(),
                });
            }
        }
    }
    for (index, c) in catalog.credentials.iter().enumerate() {
        check("provider", c.provider.index(), catalog.providers.len())?;
        if !(1..=Credential::WEIGHT_MAX).contains(&c.weight) {
            return Err(ConfigError::Weight { index });
        }
        if let Some(r) = c.region {
            check("region", r.index(), catalog.regions.len())?;
        }
    }
    Ok(())
}
