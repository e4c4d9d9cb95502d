//! `gatesim blackbox --bench`: what a gateway adds on loopback. The same open-loop
//! workload (a fixed rate for a fixed time) is sent straight to a fake provider, then
//! through each gateway in turn, all in one run against the same fake providers; then a
//! closed loop (a fixed number of clients, each sending as soon as its last answer came)
//! gives each one's throughput. Latency is measured from each request's send to the end of
//! its answer, on the harness's clock.

use crate::adapter::Adapter;
use crate::drive::{launch, stage, Launched};
use crate::wire;
use bytes::Bytes;
use gatesim_sim::world::World;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Clients of the closed loop.
const CLOSED_LOOP_CLIENTS: usize = 32;
/// How long the closed loop runs.
const CLOSED_LOOP_FOR: Duration = Duration::from_secs(3);

/// Where one measured request goes and how it is shaped.
#[derive(Clone)]
struct Target {
    url: String,
    headers: Vec<(String, String)>,
    /// The body of request `n`.
    body: Arc<dyn Fn(u64) -> String + Send + Sync>,
}

/// One target's figures.
struct Figures {
    name: String,
    sent: usize,
    ok: usize,
    p50_us: u64,
    p99_us: u64,
    closed_loop_rps: f64,
}

async fn one(client: &Http, t: &Target, n: u64) -> Option<Duration> {
    let mut req = hyper::Request::post(&t.url).header("content-type", "application/json");
    for (k, v) in &t.headers {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(Bytes::from((t.body)(n)))).ok()?;
    let sent = tokio::time::Instant::now();
    let resp = client.request(req).await.ok()?;
    let ok = resp.status().is_success();
    let _ = resp.into_body().collect().await.ok()?;
    ok.then(|| sent.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    u64::try_from(sorted[i.min(sorted.len() - 1)].as_micros()).unwrap_or(u64::MAX)
}

/// Requests sent, unmeasured, before each target's open loop: connections opened and
/// pooled, the gateway's first-use paths taken.
const WARM_UP: u64 = 500;

/// The open loop at `rate` per second for `seconds`, then the closed loop.
async fn measure(name: &str, client: &Http, t: &Target, rate: u32, seconds: u32) -> Figures {
    let warm: Vec<_> = (0..WARM_UP)
        .map(|n| {
            let (client, t) = (client.clone(), t.clone());
            tokio::spawn(async move { one(&client, &t, 10_000_000 + n).await })
        })
        .collect();
    for w in warm {
        let _ = w.await;
    }
    let total = u64::from(rate) * u64::from(seconds);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let (client, t) = (client.clone(), t.clone());
        let at = start + Duration::from_nanos(n * 1_000_000_000 / u64::from(rate.max(1)));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            one(&client, &t, n).await
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(Some(l)) = task.await {
            latencies.push(l);
        }
    }
    latencies.sort_unstable();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let until = tokio::time::Instant::now() + CLOSED_LOOP_FOR;
    let mut workers = Vec::new();
    for w in 0..CLOSED_LOOP_CLIENTS {
        let (client, t, done) = (client.clone(), t.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 1_000_000 * (w as u64 + 1);
            while tokio::time::Instant::now() < until {
                if one(&client, &t, n).await.is_some() {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                n += 1;
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let completed = done.load(std::sync::atomic::Ordering::Relaxed);
    Figures {
        name: name.to_string(),
        sent: total as usize,
        ok: latencies.len(),
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        closed_loop_rps: completed as f64 / CLOSED_LOOP_FOR.as_secs_f64(),
    }
}

/// The scenario's first fake provider, called directly with its first credential, and
/// the model the gateways are asked for.
fn direct_target(world: &World, stage: &crate::drive::Stage) -> Result<(Target, String), String> {
    let cat = &world.catalog;
    let (Some(place), Some(model)) = (stage.fakes.places.first(), cat.models.first()) else {
        return Err("the scenario needs a provider and a model".to_string());
    };
    let Some(token) = stage
        .credentials
        .iter()
        .find(|c| c.provider == cat.provider(place.provider).name)
        .map(|c| c.token.clone())
    else {
        return Err("the first provider has no credential".to_string());
    };
    let upstream = model
        .served_by
        .first()
        .map_or_else(|| model.name.clone(), |s| s.upstream.clone());
    let style = place.style;
    let (name, value) = wire::auth_header(style, &token);
    let direct = Target {
        url: format!(
            "http://{}{}",
            place.addr,
            wire::path(style, &upstream, false)
        ),
        headers: vec![(name.to_string(), value)],
        body: Arc::new(move |n| wire::body(style, &upstream, &wire::prompt(n), false)),
    };
    Ok((direct, model.name.clone()))
}

/// A gateway's client endpoint, as its adapter says to call it, asking for `model`.
fn gateway_target(
    adapter: &Adapter,
    vars: &std::collections::BTreeMap<&'static str, String>,
    client_key: &str,
    model: String,
) -> Result<Target, String> {
    let mut with_key = vars.clone();
    with_key.insert("client_key", client_key.to_string());
    let fill = |t: &str| crate::adapter::fill(t, &with_key);
    let url = fill(&adapter.client.url)?;
    let headers = adapter
        .client
        .headers
        .iter()
        .map(|(k, v)| fill(v).map(|v| (k.clone(), v)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Target {
        url,
        headers,
        body: Arc::new(move |n| {
            serde_json::json!({"model": model, "messages": [{"role": "user", "content": wire::prompt(n)}]})
                .to_string()
        }),
    })
}

/// Runs the benchmark on `world`'s first provider and model; the exit status.
pub async fn bench(
    file: &Path,
    world: Arc<World>,
    seed: u64,
    adapters: &[Arc<Adapter>],
    rate: u32,
    seconds: u32,
) -> u8 {
    let stage = match stage(&world, seed).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gatesim blackbox --bench: {e}");
            return 2;
        }
    };
    let (direct, model) = match direct_target(&world, &stage) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gatesim blackbox --bench: {e}");
            return 2;
        }
    };
    let client: Http = Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();
    stage.log.start();
    eprintln!("bench: {rate} req/s for {seconds} s straight to the fake provider");
    let mut figures =
        vec![measure("direct (fake provider)", &client, &direct, rate, seconds).await];
    for adapter in adapters {
        eprintln!(
            "bench: {rate} req/s for {seconds} s through {}",
            adapter.name
        );
        let Launched {
            mut gateway,
            vars,
            client: _,
            ..
        } = match launch(file, &world, &stage, adapter, &[], None).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("gatesim blackbox --bench: {}: {e}", adapter.name);
                return 2;
            }
        };
        let through =
            match gateway_target(adapter, &vars, &stage.projects[0].client_key, model.clone()) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("gatesim blackbox --bench: {}: {e}", adapter.name);
                    return 2;
                }
            };
        figures.push(measure(&adapter.name, &client, &through, rate, seconds).await);
        gateway.stop().await;
    }
    print!("{}", table(&figures, rate, seconds));
    0
}

fn table(figures: &[Figures], rate: u32, seconds: u32) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "open loop {rate} req/s for {seconds} s after {WARM_UP} unmeasured; closed loop {CLOSED_LOOP_CLIENTS} clients for {} s; latency from send to the end of the answer",
        CLOSED_LOOP_FOR.as_secs()
    );
    let _ = writeln!(
        out,
        "{:<26} {:>6} {:>6} {:>9} {:>9} {:>11} {:>11} {:>12}",
        "target", "sent", "ok", "p50 ms", "p99 ms", "added p50", "added p99", "closed req/s"
    );
    let base = figures.first().map_or((0, 0), |f| (f.p50_us, f.p99_us));
    for f in figures {
        let ms = |us: u64| us as f64 / 1000.0;
        let added = |us: u64, b: u64| ms(us.saturating_sub(b));
        let _ = writeln!(
            out,
            "{:<26} {:>6} {:>6} {:>9.2} {:>9.2} {:>11.2} {:>11.2} {:>12.0}",
            f.name,
            f.sent,
            f.ok,
            ms(f.p50_us),
            ms(f.p99_us),
            added(f.p50_us, base.0),
            added(f.p99_us, base.1),
            f.closed_loop_rps
        );
    }
    out
}
