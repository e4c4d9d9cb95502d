//! The page: an HTML header, one SVG (axis, client lane, credential lanes, legend) and
//! the fault and violation lists. Coordinates are integers in tenths of a pixel, so the
//! bytes never depend on float formatting.

use super::model::{Band, BandKind, FaultBox, Model, TickKind};
use super::Options;
use crate::check::Invariant;
use crate::runner::Verdict;
use gatesim_core::{Instant, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// SVG width, px.
const WIDTH: u64 = 1360;
/// Left margin for lane labels, px.
const LEFT: u64 = 150;
/// Plot width, px (x = simulated time).
const PLOT: u64 = 1190;
/// Top of the axis labels, px (the first violation's text sits above).
const AXIS_Y: u64 = 34;
/// The client lane: top and height, px.
const CLIENT_Y: u64 = 40;
const CLIENT_H: u64 = 26;
/// The first credential lane's top and every lane's height, px.
const LANES_Y: u64 = 72;
const LANE_H: u64 = 50;
/// Most axis ticks.
const AXIS_TICKS_MAX: u64 = 12;
/// Most violations listed under the picture (the verdict keeps 20 per invariant).
const VIOLATIONS_LISTED_MAX: usize = 40;

/// The whole page.
pub(super) fn page(v: &Verdict, m: &Model, options: &Options) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let w = &v.world;
    let verdict = if v.passed() { "PASS" } else { "FAIL" };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>gatesim timeline: {} seed {} {verdict}</title>\n<style>\n{CSS}</style>\n\
         </head>\n<body>\n",
        esc(&w.id),
        v.seed
    );
    header(&mut out, v, m, options);
    svg(&mut out, m, options.ticks_max);
    lists(&mut out, v, m);
    out.push_str("</body>\n</html>\n");
    out
}

const CSS: &str = "body{font:13px/1.4 system-ui,sans-serif;margin:12px 16px;color:#222}\n\
h1{font-size:18px;margin:0 0 4px}\n\
table.h td{padding:0 12px 0 0;vertical-align:top}\n\
code{background:#f3f3f3;padding:1px 4px}\n\
.pass{color:#1d7a33;font-weight:bold}.fail{color:#c00;font-weight:bold}\n\
svg text{font:11px system-ui,sans-serif;fill:#222}\n\
svg .lname{font-weight:bold;font-size:12px}\n\
svg .small{font-size:9px;fill:#444}\n\
.lane0{fill:#f7f7f7}.lane1{fill:#eeeeee}.client{fill:#e8eef6}\n\
.grid{stroke:#ccc;stroke-width:1}\n\
.fault{fill:#8a8a8a;fill-opacity:.16;stroke:#555;stroke-dasharray:4 3;stroke-width:1}\n\
.viol{stroke:#e00;stroke-width:2}\n\
.vtext{fill:#c00;font-weight:bold}\n\
.b-cooling{fill:#4fa3e0}.b-unhealthy{fill:#e8c21a}.b-suspended{fill:#b48ad8}.b-blacklisted{fill:#2b2b2b}\n\
.t-ok{fill:#2ca02c}.t-rate-limited{fill:#ff8c00}.t-auth{fill:#7e3fbf}.t-server-error{fill:#d62728}\n\
.t-timeout{fill:#8c564b}.t-unreachable{fill:#111}.t-stream-break{fill:#e377c2}\n\
.t-model-unsupported{fill:#17becf}.t-request-invalid{fill:#1f77b4}.t-no-answer{fill:#aaa}\n\
.o-success{fill:#2ca02c}.o-stream_interrupted{fill:#e377c2}.o-request_invalid{fill:#1f77b4}\n\
.o-exhausted_transient{fill:#ff8c00}.o-exhausted_permanent{fill:#7e3fbf}\n\
.o-upstream_failed{fill:#d62728}.o-no_route{fill:#555}\n\
table.l{border-collapse:collapse;margin-top:4px}table.l td{padding:1px 10px 1px 0}\n";

fn header(out: &mut String, v: &Verdict, m: &Model, options: &Options) {
    let w = &v.world;
    let _ = writeln!(out, "<h1>{} — {}</h1>", esc(&w.id), esc(&w.title));
    out.push_str("<table class=\"h\">\n");
    let mut row = |k: &str, html: String| {
        let _ = writeln!(out, "<tr><td>{k}</td><td>{html}</td></tr>");
    };
    if !w.source.is_empty() {
        row("source", esc(&w.source));
    }
    row("seed", v.seed.to_string());
    if !w.policy.regressions.is_empty() {
        let names: Vec<&str> = w.policy.regressions.iter().map(|k| k.name()).collect();
        row("regression knobs ON", esc(&names.join(", ")));
    }
    let invariants = if v.violations.is_empty() {
        format!("all {} hold", Invariant::ALL.len())
    } else {
        format!(
            "{} violated ({} violations): {}",
            v.failed_invariants().len(),
            v.violations.len(),
            v.failed_invariants().join(", ")
        )
    };
    let class = if v.passed() { "pass" } else { "fail" };
    let verdict = if v.passed() { "PASS" } else { "FAIL" };
    row(
        "verdict",
        format!(
            "<span class=\"{class}\">{verdict}</span> — invariants: {}; expectations: {}/{} met; trace {:016x}",
            esc(&invariants),
            v.expectations_met(),
            w.expect.len(),
            v.trace_hash
        ),
    );
    if let Some(x) = &m.first_violation {
        row("first violation", format!("<b>{}</b>", esc(&x.to_string())));
    }
    let s = &v.summary;
    let mut figures = format!(
        "{} requests, {} successes, {} attempts, {} credentials, t+0 to {}",
        s.requests,
        s.successes,
        m.ticks.len(),
        m.lanes.len(),
        Instant(m.end_ms)
    );
    if m.ended_ms > m.end_ms {
        let _ = write!(
            figures,
            " (the run ended at {} with stale answers only)",
            Instant(m.ended_ms)
        );
    }
    if m.ticks.len() > options.ticks_max {
        let _ = write!(
            figures,
            " (more than {} attempts: binned per pixel column and lane, each bin coloured by its worst cause)",
            options.ticks_max
        );
    }
    row("run", esc(&figures));
    if !options.replay.is_empty() {
        row("replay", format!("<code>{}</code>", esc(&options.replay)));
    }
    out.push_str("</table>\n");
}

/// x of a time, in tenths of a pixel.
fn x10(m: &Model, ms: u64) -> u64 {
    let ms = ms.min(m.end_ms);
    LEFT * 10
        + u64::try_from(u128::from(ms) * u128::from(PLOT * 10) / u128::from(m.end_ms))
            .expect("ms is clipped to end_ms, so x is within the plot")
}

/// Tenths of a pixel as an SVG number.
fn px(v10: u64) -> String {
    if v10.is_multiple_of(10) {
        (v10 / 10).to_string()
    } else {
        format!("{}.{}", v10 / 10, v10 % 10)
    }
}

fn lane_y(lane: usize) -> u64 {
    LANES_Y + lane as u64 * LANE_H
}

fn svg(out: &mut String, m: &Model, ticks_max: usize) {
    let bottom = lane_y(m.lanes.len());
    let legend_y = bottom + 18;
    let height = legend_y + 3 * 20 + 8;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\">\n<title>timeline of the run: \
         {} credential lanes, {} attempts, {} client answers</title>",
        m.lanes.len(),
        m.ticks.len(),
        m.marks.len()
    );
    lanes(out, m, bottom);
    axis(out, m, bottom);
    faults(out, m);
    bands(out, m);
    if m.ticks.len() > ticks_max {
        ticks_binned(out, m);
    } else {
        ticks(out, m);
    }
    marks(out, m, ticks_max);
    violation(out, m, bottom);
    legend(out, legend_y);
    out.push_str("</svg>\n");
}

fn lanes(out: &mut String, m: &Model, bottom: u64) {
    let _ = writeln!(
        out,
        "<g id=\"lanes\"><rect class=\"client\" x=\"{LEFT}\" y=\"{CLIENT_Y}\" width=\"{PLOT}\" height=\"{CLIENT_H}\"/>\
         <text class=\"lname\" x=\"8\" y=\"{}\">client</text>",
        CLIENT_Y + 17
    );
    for (i, lane) in m.lanes.iter().enumerate() {
        let y = lane_y(i);
        let _ = writeln!(
            out,
            "<g class=\"lane\" data-credential=\"{}\"><title>{} {}</title><rect class=\"lane{}\" x=\"{LEFT}\" y=\"{y}\" \
             width=\"{PLOT}\" height=\"{LANE_H}\"/><text class=\"lname\" x=\"8\" y=\"{}\">{}</text>\
             <text x=\"8\" y=\"{}\">{}</text></g>",
            esc(&lane.name),
            esc(&lane.name),
            esc(&lane.place),
            i % 2,
            y + 20,
            esc(&lane.name),
            y + 35,
            esc(&shorten(&lane.place, 22))
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{CLIENT_Y}\" x2=\"{LEFT}\" y2=\"{bottom}\"/></g>"
    );
}

fn axis(out: &mut String, m: &Model, bottom: u64) {
    const STEPS_MS: [u64; 24] = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
        120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000,
    ];
    let step = STEPS_MS
        .iter()
        .copied()
        .find(|s| m.end_ms / s <= AXIS_TICKS_MAX)
        .unwrap_or_else(|| m.end_ms.div_ceil(AXIS_TICKS_MAX));
    out.push_str("<g id=\"axis\">");
    let mut t = 0;
    while t <= m.end_ms {
        let x = px(x10(m, t));
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\"/>\
             <text x=\"{x}\" y=\"{AXIS_Y}\" text-anchor=\"middle\">{}</text>",
            AXIS_Y + 2,
            time_label(t, step)
        );
        t += step;
    }
    let _ = writeln!(
        out,
        "<text class=\"small\" x=\"8\" y=\"{AXIS_Y}\">simulated time</text></g>"
    );
}

/// An axis label: `0`, `250ms`, `1.5s`, `45s`, `2m`, `1h30m`.
fn time_label(ms: u64, step: u64) -> String {
    if ms == 0 {
        return "0".to_string();
    }
    if step < 1_000 {
        return if ms < 1_000 {
            format!("{ms}ms")
        } else {
            let frac = format!("{:03}", ms % 1_000);
            format!("{}.{}s", ms / 1_000, frac.trim_end_matches('0')).replace(".s", "s")
        };
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1_000 % 60);
    if h == 0 && ms < 120_000 {
        return format!("{}s", ms / 1_000);
    }
    let mut label = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            let _ = write!(label, "{n}{unit}");
        }
    }
    label
}

fn faults(out: &mut String, m: &Model) {
    out.push_str("<g id=\"faults\">\n");
    // Label extents already taken, per label row (the bottom edge of a rectangle).
    let mut taken: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for f in &m.faults {
        for (top, h) in lane_runs(f) {
            fault_rect(out, m, f, top, h, taken.entry(top + h).or_default());
        }
    }
    out.push_str("</g>\n");
}

/// The fault's lanes as (top, height) rectangles, one per run of adjacent lanes; the
/// client lane for a request fault.
fn lane_runs(f: &FaultBox) -> Vec<(u64, u64)> {
    if f.lanes.is_empty() {
        return vec![(CLIENT_Y, CLIENT_H)];
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &l in &f.lanes {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == l => *last = l,
            _ => runs.push((l, l)),
        }
    }
    runs.into_iter()
        .map(|(a, b)| (lane_y(a), (b - a + 1) as u64 * LANE_H))
        .collect()
}

fn fault_rect(
    out: &mut String,
    m: &Model,
    f: &FaultBox,
    top: u64,
    h: u64,
    taken: &mut Vec<(u64, u64)>,
) {
    let (x0, x1) = (x10(m, f.from_ms), x10(m, f.to_ms));
    let width = (x1 - x0).max(10);
    let until = if f.to_ms >= m.end_ms {
        "end".to_string()
    } else {
        Instant(f.to_ms).to_string()
    };
    let _ = write!(
        out,
        "<g class=\"fault-box\" data-fault=\"{}\"><rect class=\"fault\" x=\"{}\" y=\"{top}\" width=\"{}\" height=\"{h}\">\
         <title>fault#{} {} [{}..{until})</title></rect>",
        f.index,
        px(x0),
        px(width),
        f.index,
        esc(&f.label),
        Instant(f.from_ms)
    );
    // The label only where it fits and no earlier label is (9 px text is about 5.5 px a
    // character); the tooltip and the fault list always name the fault.
    let label = format!("fault#{} {}", f.index, f.label);
    let extent = (x0 + 30, x0 + 30 + label.len() as u64 * 55);
    let free = !taken.iter().any(|(a, b)| extent.0 < *b && *a < extent.1);
    if free && width >= extent.1 - x0 + 10 {
        taken.push(extent);
        let _ = write!(
            out,
            "<text class=\"small\" x=\"{}\" y=\"{}\">{}</text>",
            px(x0 + 30),
            top + h - 3,
            esc(&label)
        );
    }
    out.push_str("</g>\n");
}

fn bands(out: &mut String, m: &Model) {
    out.push_str("<g id=\"bands\">\n");
    let mut merged: Vec<(&Band, u64, usize)> = Vec::new();
    for b in &m.bands {
        // Bands of a kind that touch within a pixel are drawn as one, so a lane holds at
        // most one band per kind and pixel column.
        match merged.last_mut() {
            Some((last, to, n))
                if last.lane == b.lane
                    && last.kind == b.kind
                    && x10(m, b.from_ms) <= x10(m, *to) + 10 =>
            {
                *to = (*to).max(b.to_ms);
                *n += 1;
            }
            _ => merged.push((b, b.to_ms, 1)),
        }
    }
    for (b, to_ms, n) in merged {
        let (x0, x1) = (x10(m, b.from_ms), x10(m, to_ms));
        let y = lane_y(b.lane) + 3 + b.kind.stripe() * 5;
        let what = if n == 1 {
            format!("scope {}", b.scope)
        } else {
            format!("{n} records")
        };
        let lane = &m.lanes[b.lane].name;
        let until = if b.kind == BandKind::Blacklisted {
            "end".to_string()
        } else {
            Instant(to_ms).to_string()
        };
        let _ = writeln!(
            out,
            "<rect class=\"b-{}\" data-credential=\"{}\" x=\"{}\" y=\"{y}\" width=\"{}\" height=\"4\">\
             <title>{} {} {}..{until} ({})</title></rect>",
            b.kind.name(),
            esc(lane),
            px(x0),
            px((x1 - x0).max(10)),
            esc(lane),
            b.kind.name(),
            Instant(b.from_ms),
            esc(&what)
        );
    }
    out.push_str("</g>\n");
}

fn tick_y(lane: usize) -> u64 {
    lane_y(lane) + 24
}
const TICK_H: u64 = 20;

fn ticks(out: &mut String, m: &Model) {
    // Few ticks are drawn wider to be seen; many stay thin to stay apart.
    let width_min = if m.ticks.len() <= 2_000 { 30 } else { 15 };
    out.push_str("<g id=\"attempts\">\n");
    for t in &m.ticks {
        let (x0, x1) = (x10(m, t.from_ms), x10(m, t.to_ms));
        let lane = m.lanes.get(t.lane).map_or("?", |l| l.name.as_str());
        let _ = writeln!(
            out,
            "<rect class=\"tick t-{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{TICK_H}\">\
             <title>{} {} {} → {} at {} (answered {}, {} ms)</title></rect>",
            t.kind.name(),
            px(x0),
            tick_y(t.lane),
            px((x1 - x0).max(width_min)),
            t.attempt,
            esc(lane),
            esc(&t.upstream),
            esc(&t.answer),
            Instant(t.from_ms),
            Instant(t.to_ms),
            t.to_ms - t.from_ms
        );
    }
    out.push_str("</g>\n");
}

fn ticks_binned(out: &mut String, m: &Model) {
    let mut bins: BTreeMap<(usize, u64), [u32; TickKind::ALL.len()]> = BTreeMap::new();
    for t in &m.ticks {
        let column = (x10(m, t.from_ms) - LEFT * 10) / 10;
        let counts = bins.entry((t.lane, column)).or_default();
        let k = TickKind::ALL.iter().position(|k| *k == t.kind).unwrap_or(0);
        counts[k] += 1;
    }
    out.push_str("<g id=\"attempts\" data-binned=\"true\">\n");
    for ((lane, column), counts) in bins {
        let worst = TickKind::ALL
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(k, _)| *k)
            .max()
            .unwrap_or(TickKind::Ok);
        let total: u32 = counts.iter().sum();
        let mut detail = String::new();
        for (k, n) in TickKind::ALL.iter().zip(counts) {
            if n > 0 {
                let _ = write!(
                    detail,
                    "{}{n} {}",
                    if detail.is_empty() { "" } else { ", " },
                    k.label()
                );
            }
        }
        let from = ms_of_column(m, column);
        let _ = writeln!(
            out,
            "<rect class=\"tick t-{}\" x=\"{}\" y=\"{}\" width=\"1\" height=\"{TICK_H}\">\
             <title>{} {}..{}: {total} attempts ({detail})</title></rect>",
            worst.name(),
            LEFT + column,
            tick_y(lane),
            esc(m.lanes.get(lane).map_or("?", |l| l.name.as_str())),
            Instant(from),
            Instant(ms_of_column(m, column + 1)),
        );
    }
    out.push_str("</g>\n");
}

/// The first millisecond of a pixel column.
fn ms_of_column(m: &Model, column: u64) -> u64 {
    (column * m.end_ms).div_ceil(PLOT)
}

/// Outcome severity for a bin of client answers (the worst is shown).
fn outcome_rank(o: Outcome) -> u8 {
    match o {
        Outcome::Success => 0,
        Outcome::StreamInterrupted => 1,
        Outcome::RequestInvalid => 2,
        Outcome::NoRoute => 3,
        Outcome::ExhaustedTransient => 4,
        Outcome::UpstreamFailed => 5,
        Outcome::ExhaustedPermanent => 6,
    }
}

const OUTCOMES: [Outcome; 7] = [
    Outcome::Success,
    Outcome::StreamInterrupted,
    Outcome::RequestInvalid,
    Outcome::NoRoute,
    Outcome::ExhaustedTransient,
    Outcome::UpstreamFailed,
    Outcome::ExhaustedPermanent,
];

fn marks(out: &mut String, m: &Model, ticks_max: usize) {
    let y = CLIENT_Y + 4;
    let h = CLIENT_H - 8;
    if m.marks.len() <= ticks_max {
        out.push_str("<g id=\"client\">\n");
        for k in &m.marks {
            let _ = writeln!(
                out,
                "<rect class=\"mark o-{}\" x=\"{}\" y=\"{y}\" width=\"2\" height=\"{h}\">\
                 <title>{} at {}</title></rect>",
                k.outcome.name(),
                px(x10(m, k.at_ms)),
                esc(&k.text),
                Instant(k.at_ms)
            );
        }
        out.push_str("</g>\n");
        return;
    }
    let mut bins: BTreeMap<u64, [u32; OUTCOMES.len()]> = BTreeMap::new();
    for k in &m.marks {
        let column = (x10(m, k.at_ms) - LEFT * 10) / 10;
        bins.entry(column).or_default()[usize::from(outcome_rank(k.outcome))] += 1;
    }
    out.push_str("<g id=\"client\" data-binned=\"true\">\n");
    for (column, counts) in bins {
        let worst = OUTCOMES
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(o, _)| *o)
            .max_by_key(|o| outcome_rank(*o))
            .unwrap_or(Outcome::Success);
        let mut detail = String::new();
        for (o, n) in OUTCOMES.iter().zip(counts) {
            if n > 0 {
                let _ = write!(
                    detail,
                    "{}{n} {}",
                    if detail.is_empty() { "" } else { ", " },
                    o.name()
                );
            }
        }
        let _ = writeln!(
            out,
            "<rect class=\"mark o-{}\" x=\"{}\" y=\"{y}\" width=\"1\" height=\"{h}\">\
             <title>{}..{}: {detail}</title></rect>",
            worst.name(),
            LEFT + column,
            Instant(ms_of_column(m, column)),
            Instant(ms_of_column(m, column + 1))
        );
    }
    out.push_str("</g>\n");
}

fn violation(out: &mut String, m: &Model, bottom: u64) {
    let Some(v) = &m.first_violation else {
        return;
    };
    let x = x10(m, v.at.as_ms());
    let text = format!("first violation: {v}");
    // Anchored on the side with more room, cut to what fits there (bold 11 px text is
    // about 6.5 px a character).
    let (tx, anchor, room10) = if x < (LEFT + PLOT / 2) * 10 {
        (x + 40, "start", (WIDTH * 10).saturating_sub(x + 40))
    } else {
        (x.saturating_sub(40), "end", x.saturating_sub(40))
    };
    let fits = usize::try_from(room10 / 65).unwrap_or(usize::MAX).max(20);
    let shown = shorten(&text, fits);
    let _ = writeln!(
        out,
        "<g id=\"violation\"><line class=\"viol\" x1=\"{x}\" y1=\"4\" x2=\"{x}\" y2=\"{bottom}\"><title>{}</title></line>\
         <text class=\"vtext\" x=\"{}\" y=\"14\" text-anchor=\"{anchor}\">{}</text></g>",
        esc(&text),
        px(tx),
        esc(&shown),
        x = px(x),
    );
}

fn legend(out: &mut String, y: u64) {
    out.push_str("<g id=\"legend\">\n");
    let ticks: Vec<(String, String)> = TickKind::ALL
        .iter()
        .map(|k| (format!("t-{}", k.name()), k.label().to_string()))
        .collect();
    legend_row(out, y, "attempts (cause)", &ticks);
    let outcomes: Vec<(String, String)> = OUTCOMES
        .iter()
        .map(|o| (format!("o-{}", o.name()), o.name().replace('_', " ")))
        .collect();
    legend_row(out, y + 20, "client answers", &outcomes);
    let mut states: Vec<(String, String)> = BandKind::ALL
        .iter()
        .map(|k| (format!("b-{}", k.name()), k.name().to_string()))
        .collect();
    states.push((
        "fault".to_string(),
        "fault active (target lanes)".to_string(),
    ));
    legend_row(out, y + 40, "credential state", &states);
    let _ = writeln!(
        out,
        "<line class=\"viol\" x1=\"1150\" y1=\"{}\" x2=\"1150\" y2=\"{}\"/><text x=\"1156\" y=\"{}\">first violation</text>",
        y + 31,
        y + 45,
        y + 42
    );
    out.push_str("</g>\n");
}

fn legend_row(out: &mut String, y: u64, title: &str, items: &[(String, String)]) {
    let _ = write!(
        out,
        "<text class=\"lname\" x=\"8\" y=\"{}\">{}</text>",
        y + 11,
        esc(title)
    );
    let mut x = LEFT;
    for (class, label) in items {
        let _ = write!(
            out,
            "<rect class=\"{class}\" x=\"{x}\" y=\"{}\" width=\"14\" height=\"10\"/><text x=\"{}\" y=\"{}\">{}</text>",
            y + 2,
            x + 18,
            y + 11,
            esc(label)
        );
        x += 18 + label.len() as u64 * 6 + 16;
    }
    out.push('\n');
}

fn lists(out: &mut String, v: &Verdict, m: &Model) {
    if !v.violations.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Violations ({} kept of {})</h2>\n<table class=\"l\">",
            v.violations.len().min(VIOLATIONS_LISTED_MAX),
            v.violations.len()
        );
        for x in v.violations.iter().take(VIOLATIONS_LISTED_MAX) {
            let _ = writeln!(out, "<tr><td>{}</td></tr>", esc(&x.to_string()));
        }
        out.push_str("</table>\n");
    }
    if !v.failed_expectations.is_empty() {
        out.push_str("<h2>Failed expectations</h2>\n<table class=\"l\">\n");
        for e in &v.failed_expectations {
            let _ = writeln!(out, "<tr><td>{}</td></tr>", esc(e));
        }
        out.push_str("</table>\n");
    }
    if !m.faults.is_empty() {
        out.push_str("<h2>Faults</h2>\n<table class=\"l\">\n");
        for f in &m.faults {
            let until = if f.to_ms >= m.end_ms {
                "end".to_string()
            } else {
                Instant(f.to_ms).to_string()
            };
            let _ = writeln!(
                out,
                "<tr><td>fault#{}</td><td>{}..{until}</td><td>{}</td></tr>",
                f.index,
                Instant(f.from_ms),
                esc(&f.label)
            );
        }
        out.push_str("</table>\n");
    }
}

/// At most `chars` characters, the last one `…` when cut.
fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    text.chars().take(chars - 1).chain(['…']).collect()
}

/// Escapes text for HTML and SVG (element content and attribute values).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_use_sensible_units() {
        assert_eq!(time_label(0, 10_000), "0");
        assert_eq!(time_label(250, 50), "250ms");
        assert_eq!(time_label(1_500, 500), "1.5s");
        assert_eq!(time_label(2_000, 500), "2s");
        assert_eq!(time_label(40_000, 10_000), "40s");
        assert_eq!(time_label(120_000, 60_000), "2m");
        assert_eq!(time_label(5_400_000, 1_800_000), "1h30m");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
