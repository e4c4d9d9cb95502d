//! From the raw file to a `World`: the conductor that runs each section's checks in
//! order (header, catalog, policy, contract, faults, workload, expectations) and assembles the world.
//!
//! Entities with a problem are still built (with placeholder values) so that later
//! sections are checked too; the world is discarded when any error was found. The
//! sections share the toolbox in [`ctx`](super::ctx).

use super::ctx::{Ctx, Index, Names};
use super::raw::RawScenario;
use super::{catalog, expect, faults, policy, workload};
use super::{EPOCH_UNIX_S_DEFAULT, VERSION};
use crate::world::World;
use gatesim_core::{Catalog, Policy};

/// Latest `epoch_unix_s` accepted: 9999-12-31T23:59:59Z (HTTP-dates have four-digit years).
const EPOCH_UNIX_S_MAX: u64 = 253_402_300_799;

/// Builds the world from a readable file, recording every problem in `ctx`.
pub(super) fn build(raw: &RawScenario, ctx: &mut Ctx) -> World {
    header(raw, ctx);
    let mut names = Names {
        regions: Index::new("region"),
        providers: Index::new("provider"),
        models: Index::new("model"),
        credentials: Index::new("credential"),
        projects: Index::new("project"),
    };
    let mut catalog = Catalog {
        epoch_unix_s: raw.epoch_unix_s.unwrap_or(EPOCH_UNIX_S_DEFAULT),
        ..Catalog::default()
    };
    catalog::regions(raw, ctx, &mut names, &mut catalog);
    let providers = catalog::providers(raw, ctx, &mut names, &mut catalog);
    places(ctx, &catalog);
    catalog::models(raw, ctx, &mut names, &mut catalog);
    catalog::credentials(raw, ctx, &mut names, &mut catalog);
    catalog::projects(raw, ctx, &mut names, &mut catalog);
    let policy = match &raw.policy {
        Some(item) => ctx.item("policy", item).map(|p| policy::policy(p, ctx)),
        None => None,
    };
    let contract = match &raw.contract {
        Some(item) => ctx.item("contract", item).map(|c| policy::contract(c, ctx)),
        None => None,
    };
    let faults = faults::faults(&raw.faults, ctx, &names, &catalog);
    let (workload, duration) = workload::workload(raw, ctx, &names, &catalog, &faults);
    let expect = expect::expect(&raw.expect, ctx, &names, &workload);
    let swarm = match &raw.swarm {
        Some(item) => expect::swarm(item, ctx),
        None => Vec::new(),
    };
    World {
        id: raw.id.clone().unwrap_or_default(),
        title: raw.title.clone().unwrap_or_default(),
        source: raw.source.clone().unwrap_or_default(),
        seed: raw.seed.unwrap_or(0),
        duration,
        catalog,
        providers,
        policy: policy.unwrap_or_else(Policy::reference),
        contract: contract.unwrap_or_default(),
        faults,
        workload,
        expect,
        swarm,
    }
}

/// Most providers × regions: the engine and the gateway keep state per (provider,
/// region) pair, so 3 000 × 3 000 in a 141 KB file took 3.8 GiB (about 400 bytes a pair).
const PLACES_MAX: usize = 100_000;

fn places(ctx: &mut Ctx, catalog: &Catalog) {
    let places = catalog
        .providers
        .len()
        .saturating_mul(catalog.regions.len());
    if places > PLACES_MAX {
        ctx.err(
            "providers",
            format!(
                "{} providers × {} regions is too many (at most {PLACES_MAX} pairs)",
                catalog.providers.len(),
                catalog.regions.len()
            ),
        );
    }
}

fn header(raw: &RawScenario, ctx: &mut Ctx) {
    match raw.version {
        Some(VERSION) => {}
        Some(v) => ctx.err(
            "version",
            format!("unsupported version {v} (this gatesim reads version {VERSION})"),
        ),
        None if !ctx.has_error_at("version") => ctx.err(
            "version",
            "missing (the first field of a scenario is \"version\": 1)",
        ),
        None => {}
    }
    match &raw.id {
        Some(id) => ctx.file_id("id", id),
        None if !ctx.has_error_at("id") => {
            ctx.err("id", "missing (the scenario's id, e.g. the file stem)")
        }
        None => {}
    }
    if let Some(t) = &raw.title {
        ctx.text("title", t);
    }
    if let Some(t) = &raw.source {
        ctx.text("source", t);
    }
    if let Some(e) = raw.epoch_unix_s.filter(|e| *e > EPOCH_UNIX_S_MAX) {
        ctx.err(
            "epoch_unix_s",
            format!("{e} is after the year 9999 (at most {EPOCH_UNIX_S_MAX})"),
        );
    }
}
