//! Model name → route set: a canonical model's routes, an alias's rotation, a
//! `provider/model` name's slice, or a custom name on providers that accept any model.

use crate::catalog::Catalog;
use crate::id::{ModelId, ProviderId, RegionId, Scope};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One place a request can be served: provider × region → upstream model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// Provider.
    pub(crate) provider: ProviderId,
    /// Region.
    pub(crate) region: RegionId,
    /// Health scope (the canonical model, or a custom model name).
    pub(crate) scope: Scope,
    /// The concrete upstream model.
    pub(crate) upstream: Arc<str>,
    /// The scope of the alias the request named, if any.
    pub(crate) alias_scope: Option<Scope>,
    /// `Scope::of(upstream)`, hashed once here instead of on every decision.
    upstream_scope: Scope,
    /// `scope.in_region(region)`, likewise.
    regional_scope: Scope,
}

impl Route {
    /// A route; the scopes derived from it are computed once, here.
    pub(crate) fn new(
        provider: ProviderId,
        region: RegionId,
        scope: Scope,
        upstream: Arc<str>,
    ) -> Route {
        Route {
            provider,
            region,
            scope,
            upstream_scope: Scope::of(&upstream),
            upstream,
            alias_scope: None,
            regional_scope: scope.in_region(region),
        }
    }

    /// The suspension scope: the concrete upstream model.
    pub(crate) fn upstream_scope(&self) -> Scope {
        self.upstream_scope
    }

    /// The health scope narrowed to the route's own region (`scope.in_region(region)`).
    pub(crate) fn regional_scope(&self) -> Scope {
        self.regional_scope
    }
}

/// The routes a request was resolved to.
pub(super) struct Resolved {
    /// Shared with the route table for every name but a custom one (no copy per request).
    pub(super) routes: Arc<[Route]>,
    /// The name is an alias.
    pub(super) is_alias: bool,
    /// The shared route set these routes are (canonical model, alias rotation or
    /// `provider/model`; not for custom names): its candidates can come from a cache.
    pub(super) set: Option<usize>,
}

/// Every route set the gateway has resolved a name to: the canonical models' (set index =
/// model index), then sets derived on first use (set index = models + position).
#[derive(Clone, Debug)]
pub(super) struct Routes {
    /// Routes of each canonical model (empty for aliases).
    canonical: Vec<Arc<[Route]>>,
    /// Alias rotations and `provider/model` names, built on first use.
    derived: BTreeMap<SetKey, usize>,
    derived_routes: Vec<Arc<[Route]>>,
    /// Per alias: the member the next request starts from (wrapping).
    alias_cursor: BTreeMap<ModelId, u32>,
}

/// A route set derived from the catalog on first use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SetKey {
    /// An alias whose members are tried starting from the given one.
    Alias(ModelId, usize),
    /// A model's routes on one provider only (`provider/model`).
    Only(ModelId, ProviderId),
}

impl Routes {
    /// The canonical models' routes; derived sets come later, on first use.
    pub(super) fn new(catalog: &Catalog) -> Routes {
        let canonical = catalog
            .models
            .iter()
            .map(|m| {
                let scope = Scope::of(&m.name);
                m.served_by
                    .iter()
                    .map(|s| {
                        Route::new(s.provider, s.region, scope, Arc::from(s.upstream.as_str()))
                    })
                    .collect()
            })
            .collect();
        Routes {
            canonical,
            derived: BTreeMap::new(),
            derived_routes: Vec::new(),
            alias_cursor: BTreeMap::new(),
        }
    }

    /// Route sets known so far (canonical and derived): the candidate cache covers these.
    #[inline]
    pub(super) fn sets(&self) -> usize {
        self.canonical.len() + self.derived_routes.len()
    }

    /// Routes for a model name: canonical model, alias (rotated per request), explicit
    /// `provider/model`, or a custom name for providers that accept any model.
    pub(super) fn resolve(&mut self, catalog: &Catalog, name: &str) -> Resolved {
        if let Some(m) = catalog.model_by_name(name) {
            let model = catalog.model(m);
            if model.is_alias() {
                let members = model.alias_of.len();
                let cursor = self.alias_cursor.entry(m).or_insert(0);
                let start = *cursor as usize % members;
                debug_assert!(start < members, "an alias rotation starts at a member");
                *cursor = cursor.wrapping_add(1);
                return self.derived_set(catalog, SetKey::Alias(m, start), true);
            }
            return Resolved {
                routes: self.canonical[m.index()].clone(),
                is_alias: false,
                set: Some(m.index()),
            };
        }
        if let Some((provider, model)) = name.split_once('/') {
            if let Some(p) = catalog.provider_by_name(provider) {
                if let Some(m) = catalog.model_by_name(model) {
                    return self.derived_set(catalog, SetKey::Only(m, p), false);
                }
                return custom(catalog, model, Some(p));
            }
        }
        custom(catalog, name, None)
    }

    /// The routes of an alias rotation or a `provider/model` name, built once and shared
    /// like a canonical model's, with the index of their set.
    #[inline(never)]
    fn derived_set(&mut self, catalog: &Catalog, key: SetKey, is_alias: bool) -> Resolved {
        if let Some(&set) = self.derived.get(&key) {
            return Resolved {
                routes: self.derived_routes[set].clone(),
                is_alias,
                set: Some(self.canonical.len() + set),
            };
        }
        let routes: Arc<[Route]> = match key {
            SetKey::Alias(m, start) => {
                let model = catalog.model(m);
                let alias_scope = Scope::of(&model.name);
                let members = &model.alias_of;
                let mut routes = Vec::new();
                for i in 0..members.len() {
                    let member = members[(start + i) % members.len()];
                    routes.extend(self.canonical[member.index()].iter().cloned().map(|mut r| {
                        r.alias_scope = Some(alias_scope);
                        r
                    }));
                }
                routes.into()
            }
            SetKey::Only(m, p) => self.canonical[m.index()]
                .iter()
                .filter(|r| r.provider == p)
                .cloned()
                .collect(),
        };
        let set = self.derived_routes.len();
        self.derived.insert(key, set);
        self.derived_routes.push(routes.clone());
        debug_assert_eq!(
            self.derived.len(),
            self.derived_routes.len(),
            "one set per key"
        );
        Resolved {
            routes,
            is_alias,
            set: Some(self.canonical.len() + set),
        }
    }
}

/// Routes of a custom model name: every region of every provider that accepts any model
/// (of `only`, if given). Built per request: there is no set to share.
#[inline(never)]
fn custom(catalog: &Catalog, name: &str, only: Option<ProviderId>) -> Resolved {
    let upstream: Arc<str> = Arc::from(name);
    let scope = Scope::of(name);
    let mut routes = Vec::new();
    for (i, p) in catalog.providers.iter().enumerate() {
        let id = ProviderId(i as u32);
        if !p.accepts_any_model || only.is_some_and(|o| o != id) {
            continue;
        }
        for region in &p.regions {
            routes.push(Route::new(id, *region, scope, upstream.clone()));
        }
    }
    Resolved {
        routes: routes.into(),
        is_alias: false,
        set: None,
    }
}
