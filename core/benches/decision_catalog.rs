//! The catalog of the routing-decision benchmark, shared by `gatesim-core`'s `decision`
//! bench and `gatesim_sim::bench` (which includes this file with `#[path]`), so both
//! measure the same shape.

use gatesim_core::{
    Catalog, Credential, Mapping, Mode, Model, Project, Provider, ProviderId, RegionId, Source,
};

/// Two providers in one region, each serving every model, `keys` org credentials each,
/// one api-keys project: a decision looks at 2 routes × `keys` candidates.
// Public: `gatesim_sim::bench` includes this file too and re-exports it.
#[allow(unreachable_pub)]
pub fn decision_catalog(keys: usize, models: usize) -> Catalog {
    let providers = (0..2)
        .map(|p| Provider {
            name: format!("provider-{p}"),
            regions: vec![RegionId(0)],
            accepts_any_model: false,
        })
        .collect();
    let models = (0..models)
        .map(|m| Model {
            name: format!("model-{m}"),
            served_by: (0..2)
                .map(|p| Mapping {
                    provider: ProviderId(p),
                    region: RegionId(0),
                    upstream: format!("model-{m}-upstream-{p}"),
                })
                .collect(),
            alias_of: Vec::new(),
        })
        .collect();
    let credentials = (0..2u32)
        .flat_map(|p| {
            (0..keys).map(move |k| Credential {
                name: format!("p{p}-key-{k}"),
                provider: ProviderId(p),
                region: None,
                source: Source::Org,
                endpoint: None,
                weight: 1,
            })
        })
        .collect();
    Catalog {
        regions: vec!["us-east".to_string()],
        providers,
        models,
        credentials,
        projects: vec![Project {
            name: "api".to_string(),
            mode: Mode::ApiKeys,
        }],
        epoch_unix_s: 1_767_225_600,
    }
}
