//! Regional outages on the network: the fault injector that clogs, kills and restarts
//! provider nodes at the fault plan's edges (and marks them on the shell's [`Board`]).

use crate::clock::Clock;
use crate::net::Place;
use crate::options::OutageStyle;
use crate::shell::{lock, Shell};
use gatesim_core::Instant;
use gatesim_sim::world::{Fault, FaultKind, OutageMode};
use madsim::net::NetSim;
use madsim::runtime::Handle;
use madsim::task::NodeId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::debug;

/// What a provider node's network looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Up,
    /// Answers cannot leave (`timeout` outage).
    Mute,
    /// Unreachable (`connect` outage).
    Down,
}

/// Applies the fault plan's edges in time order: a `FaultEdge` record for every fault,
/// and for regional outages the network change itself. Runs on the supervisor.
pub(crate) async fn inject(
    shell: Arc<Mutex<Shell>>,
    clock: Clock,
    faults: Vec<Fault>,
    nodes: BTreeMap<Place, NodeId>,
    style: OutageStyle,
) {
    // Ties in start-then-end order per fault, faults in plan order, as the engine does.
    let mut edges: Vec<(Instant, usize, bool)> = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        edges.push((f.at, i, true));
        if let Some(until) = f.until {
            edges.push((until, i, false));
        }
    }
    edges.sort_by_key(|(at, i, started)| (*at, *i, !*started));
    let mut active: BTreeMap<Place, (u32, u32)> = BTreeMap::new();
    let mut links: BTreeMap<Place, Link> = BTreeMap::new();
    for (at, i, started) in edges {
        clock.sleep_until(at).await;
        let now = clock.now();
        let mut change = None;
        if let FaultKind::RegionOutage {
            provider,
            region,
            mode,
        } = faults[i].kind
        {
            let place = (provider, region);
            let counts = active.entry(place).or_default();
            let count = match mode {
                OutageMode::Connect => &mut counts.0,
                OutageMode::Timeout => &mut counts.1,
            };
            *count = if started { *count + 1 } else { *count - 1 };
            let want = match *counts {
                (0, 0) => Link::Up,
                (0, _) => Link::Mute,
                _ => Link::Down,
            };
            let was = links.insert(place, want).unwrap_or(Link::Up);
            if let Some(node) = nodes.get(&place) {
                apply(*node, was, want, style);
            }
            debug!(t_ms = now.as_ms(), ?place, ?want, "outage edge");
            change = Some((place, want != Link::Up));
        }
        let mut shell = lock(&shell);
        if let Some((place, down)) = change {
            shell.board.set(place, down, now);
        }
        shell.fault_edge(now, i, started);
    }
}

/// Moves a node's network from `was` to `want`.
fn apply(node: NodeId, was: Link, want: Link, style: OutageStyle) {
    if was == want {
        return;
    }
    let net = NetSim::current();
    let kill = style == OutageStyle::KillRestart;
    match was {
        Link::Down if kill => Handle::current().restart(node),
        Link::Up => {}
        Link::Mute | Link::Down => net.unclog_node(node),
    }
    match want {
        Link::Up => {}
        Link::Mute => net.clog_node_out(node),
        Link::Down if kill => Handle::current().kill(node),
        Link::Down => net.clog_node(node),
    }
}
