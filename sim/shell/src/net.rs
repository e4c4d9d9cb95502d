//! The simulated network: the address plan, what travels over a connection, the provider
//! nodes' server, and the gateway's upstream call.
//!
//! One connection per attempt (`connect`, send the attempt, read one reply), like an
//! HTTP/1.1 call without keep-alive: a clogged node refuses the connection at once, a
//! node whose answers cannot leave makes the call hang until the gateway's deadline.

use crate::clock::Clock;
use crate::options::ShellError;
use gatesim_core::{Attempt, AttemptId, Instant, ProviderId, RegionId, Response, TransportError};
use gatesim_sim::provider::{Cause, FakeProvider};
use madsim::net::Endpoint;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The gateway node's address.
pub(crate) const GATEWAY_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// The first port a provider node listens on; it listens on `endpoints_per_node` ports.
const PORT_BASE: u16 = 8000;

/// A provider × region.
pub(crate) type Place = (ProviderId, RegionId);

/// A provider node's address: `10.1.<provider>.<region>` (providers past 255 go on to
/// `10.2.x.x`, and so on).
pub(crate) fn provider_ip((provider, region): Place) -> Result<IpAddr, ShellError> {
    let hi = u8::try_from(1 + provider.0 / 256)
        .map_err(|_| ShellError::TooLarge("more than 65 000 providers"))?;
    let region =
        u8::try_from(region.0).map_err(|_| ShellError::TooLarge("more than 256 regions"))?;
    Ok(IpAddr::V4(Ipv4Addr::new(
        10,
        hi,
        (provider.0 % 256) as u8,
        region,
    )))
}

/// What a provider node sends back: the raw answer and why (the ground truth, read by the
/// trace recorder only; the gateway core sees `response`).
pub(crate) struct Reply {
    pub response: Response,
    pub cause: Cause,
    /// When the provider sent it (its planned answer time).
    pub sent_at: Instant,
}

/// The outcome of one upstream call, as the gateway's request task got it.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub attempt: AttemptId,
    pub response: Response,
    pub cause: Cause,
    /// When the provider sent the answer (`None`: no answer, the connection failed).
    pub sent_at: Option<Instant>,
}

/// The gateway's side of the network: its endpoint and where each provider node listens.
pub(crate) struct Net {
    endpoint: Endpoint,
    places: BTreeMap<Place, IpAddr>,
    endpoints_per_node: u16,
}

impl Net {
    /// Binds the gateway's endpoint; call on the gateway node.
    pub(crate) async fn bind(places: BTreeMap<Place, IpAddr>, endpoints_per_node: u16) -> Net {
        let endpoint = Endpoint::bind((GATEWAY_IP, 0))
            .await
            .expect("the gateway node owns GATEWAY_IP and has free ports");
        Net {
            endpoint,
            places,
            endpoints_per_node: endpoints_per_node.max(1),
        }
    }

    fn address(&self, place: Place, attempt: AttemptId) -> Option<SocketAddr> {
        let ip = *self.places.get(&place)?;
        let spread = (attempt.0 % u64::from(self.endpoints_per_node)) as u16;
        Some(SocketAddr::new(ip, PORT_BASE + spread))
    }

    /// Carries out one attempt over the network: connect, send, wait for the one reply.
    /// Never times out by itself: the gateway's attempt deadline does, and the request
    /// task drops this future when the gateway moves on.
    pub(crate) async fn call(&self, attempt: Attempt) -> Upstream {
        let id = attempt.id;
        let failed = || Upstream {
            attempt: id,
            response: Response::Transport(TransportError::Connect),
            cause: Cause::OutageConnect,
            sent_at: None,
        };
        // A place without a node (a mapping to a region the provider does not list) is
        // unreachable, as in the engine.
        let Some(addr) = self.address((attempt.provider, attempt.region), id) else {
            return failed();
        };
        let Ok((tx, mut rx)) = self.endpoint.connect1(addr).await else {
            return failed();
        };
        if tx.send(Box::new(attempt)).await.is_err() {
            return failed();
        }
        // An error here is a reset: the node was killed with the request on it.
        let Ok(payload) = rx.recv().await else {
            return failed();
        };
        let reply = payload
            .downcast::<Reply>()
            .expect("provider nodes answer every attempt with a Reply");
        Upstream {
            attempt: id,
            response: reply.response,
            cause: reply.cause,
            sent_at: Some(reply.sent_at),
        }
    }
}

/// One provider node's server: the fake provider it fronts (kept across restarts, like
/// an upstream's rate-limit state) and where it listens.
#[derive(Clone)]
pub(crate) struct ProviderServer {
    pub fake: Arc<Mutex<FakeProvider>>,
    pub ip: IpAddr,
    pub endpoints: u16,
    pub clock: Clock,
    /// Incremented once the node listens on every port (again after each restart).
    pub ready: Arc<AtomicUsize>,
}

impl ProviderServer {
    /// The node's initial task: listen, accept, answer. Never returns (a node whose
    /// initial task ends exits).
    pub(crate) async fn serve(self) {
        for i in 0..self.endpoints.max(1) {
            let endpoint = Endpoint::bind((self.ip, PORT_BASE + i))
                .await
                .expect("a provider node owns its IP and ports");
            madsim::task::spawn(accept_loop(endpoint, self.fake.clone(), self.clock));
        }
        self.ready.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
}

async fn accept_loop(endpoint: Endpoint, fake: Arc<Mutex<FakeProvider>>, clock: Clock) {
    while let Ok((tx, mut rx, _from)) = endpoint.accept1().await {
        let fake = fake.clone();
        madsim::task::spawn(async move {
            let Ok(payload) = rx.recv().await else {
                return;
            };
            let attempt = payload
                .downcast::<Attempt>()
                .expect("the gateway sends one Attempt per connection");
            let now = clock.now();
            let planned = {
                let mut fake = fake
                    .lock()
                    .expect("fake provider lock: single-threaded runtime");
                fake.handle_dispatch(now, &attempt);
                fake.poll_response()
                    .expect("a fake provider plans one answer per dispatch")
            };
            // The provider's own latency; the network adds its own on the way back.
            clock.sleep_until(planned.at).await;
            let reply = Reply {
                response: planned.response,
                cause: planned.cause,
                sent_at: planned.at,
            };
            // The gateway may have hung up (deadline, client gone): nobody to answer.
            let _ = tx.send(Box::new(reply)).await;
        });
    }
}
