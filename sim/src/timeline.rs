//! The timeline: one judged run drawn as a self-contained HTML page (inline CSS and SVG,
//! nothing fetched), one lane per credential over simulated time.
//!
//! [`render`] is a pure function of the verdict: the same run gives the same bytes. The
//! page shows what the trace recorded: credential state bands from the gateway's own
//! events, fault windows from the plan, attempts coloured by the provider's ground-truth
//! cause, client answers by outcome, and the first invariant violation.

mod draw;
mod model;

use crate::runner::Verdict;

pub use model::{BandKind, TickKind};

/// Most attempt ticks drawn one by one; above it they are binned per pixel column and
/// lane, coloured by the worst cause of the bin, so a page stays a few MB at most.
pub const TICKS_MAX: usize = 20_000;

/// What the page says besides the run itself, and how much it draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The command that replays the run (shown in the header).
    pub replay: String,
    /// Most attempt ticks (and client answer marks) drawn one by one; above it they are
    /// binned per pixel column.
    pub ticks_max: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            replay: String::new(),
            ticks_max: TICKS_MAX,
        }
    }
}

/// The HTML page of one judged run.
pub fn render(v: &Verdict, options: &Options) -> String {
    let m = model::Model::of(v);
    draw::page(v, &m, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{judge, Judge};
    use crate::scenario;
    use gatesim_core::Regression;

    fn keypool_states(knob: bool) -> Verdict {
        let mut w = scenario::load("../scenarios/incidents/keypool-states.json".as_ref())
            .expect("the incident library loads");
        if knob {
            let k = Regression::parse("keypool-states").expect("a knob");
            w.policy.regressions = w.policy.regressions.with(k);
        }
        judge(&w, w.seed, Judge::default()).expect("the incident runs")
    }

    fn page(v: &Verdict) -> String {
        let options = Options {
            replay: "cargo gatesim run x.json --seed 113".to_string(),
            ..Options::default()
        };
        render(v, &options)
    }

    fn count(page: &str, needle: &str) -> usize {
        page.matches(needle).count()
    }

    /// The SVG between `<svg` and `</svg>`: what the structure checks look at.
    fn svg(page: &str) -> &str {
        let from = page.find("<svg").expect("an svg");
        let to = page.find("</svg>").expect("the svg ends");
        &page[from..to]
    }

    #[test]
    fn an_incident_draws_its_lanes_attempts_states_faults_and_first_violation() {
        for knob in [false, true] {
            let v = keypool_states(knob);
            let page = page(&v);
            let svg = svg(&page);
            // A lane per credential, in catalog order.
            assert_eq!(count(svg, "<g class=\"lane\""), 3, "{svg}");
            let lanes: Vec<usize> = ["k0", "k1", "k2"]
                .iter()
                .map(|k| {
                    svg.find(&format!("<g class=\"lane\" data-credential=\"{k}\""))
                        .expect("a lane")
                })
                .collect();
            assert!(lanes.windows(2).all(|w| w[0] < w[1]), "{lanes:?}");
            // One tick per attempt the trace dispatched (8, or 7 with the knob).
            let dispatched = v
                .run
                .trace
                .entries
                .iter()
                .filter(|e| matches!(e.record, crate::trace::Record::Dispatched(_)))
                .count();
            assert_eq!(dispatched, if knob { 7 } else { 8 });
            assert_eq!(count(svg, "class=\"tick "), dispatched, "{svg}");
            assert_eq!(count(svg, "class=\"mark "), 5, "one mark per client answer");
            // The first attempt is k0's 429, coloured by its ground-truth cause.
            assert!(
                svg.contains(
                    "class=\"tick t-rate-limited\" x=\"150\" y=\"96\" width=\"3\" height=\"20\">\
                 <title>attempt#0 k0 claude-sonnet-4 → 429 rate_limited(hint 30s) at t+0.000s"
                ),
                "{svg}"
            );
            // k1 is blacklisted from its 403 to the end, k0 cools down from its 429.
            assert_eq!(
                count(svg, "<rect class=\"b-blacklisted\" data-"),
                1,
                "{svg}"
            );
            assert!(
                svg.contains("class=\"b-blacklisted\" data-credential=\"k1\""),
                "{svg}"
            );
            assert!(svg.contains("<title>k1 blacklisted t+0.187s..end (scope *)</title>"));
            assert!(
                svg.contains("class=\"b-cooling\" data-credential=\"k0\""),
                "{svg}"
            );
            // The rate-limit fault is a rectangle on k0's lane, named so.
            assert!(svg.contains("<title>fault#0 rate_limit k0 [t+0.000s..t+20.000s)</title>"));
            assert!(svg.contains("<title>fault#1 key_revoked k1 [t+0.000s..end)</title>"));
            // The server errors hit every lane of the provider: one rectangle over three.
            assert!(
                svg.contains("y=\"72\" width=\"")
                    && svg.contains(
                        "height=\"150\">\
                <title>fault#2 server_errors anthropic [t+50.000s..t+51.000s)</title>"
                    ),
                "{svg}"
            );
            // The violation marker only where an invariant broke.
            assert_eq!(svg.contains("id=\"violation\""), knob, "{svg}");
            assert_eq!(v.violations.is_empty(), !knob);
            if knob {
                assert!(svg.contains(
                    "first violation: primary-first at t+40.000s req#2 attempt#4: walk started with k2"
                ), "{svg}");
            }
            assert!(page.contains(if knob { ">FAIL<" } else { ">PASS<" }));
            assert!(page.contains("<code>cargo gatesim run x.json --seed 113</code>"));
            // The same run gives the same bytes.
            assert_eq!(page, self::page(&keypool_states(knob)), "not deterministic");
        }
    }

    #[test]
    fn a_page_is_self_contained_and_names_no_secret() {
        let page = page(&keypool_states(true));
        for banned in ["https://", "<script", "<link", "<img", "@import", "url("] {
            assert!(!page.contains(banned), "{banned} in the page");
        }
        // The only URL is the SVG namespace, which is a name and never fetched.
        assert_eq!(count(&page, "http://"), 1);
        assert!(page.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        // Credential labels only, never the redacted hint the client answer carries.
        for k in ["k0…", "k1…", "k2…"] {
            assert!(!page.contains(k), "a key hint in the page");
        }
    }

    #[test]
    fn many_attempts_are_binned_per_pixel_column_by_worst_cause() {
        let v = keypool_states(false);
        let options = Options {
            ticks_max: 2,
            ..Options::default()
        };
        let page = render(&v, &options);
        let svg = svg(&page);
        assert!(
            svg.contains("<g id=\"attempts\" data-binned=\"true\">"),
            "{svg}"
        );
        assert!(
            svg.contains("<g id=\"client\" data-binned=\"true\">"),
            "{svg}"
        );
        // A bin is one pixel column of one lane: k0's 429 (dispatched at t+0.000s) in
        // column 0, k1's 403 (t+0.124s) in column 1, each its own bin's worst cause.
        assert!(svg.contains("class=\"tick t-rate-limited\" x=\"150\" y=\"96\" width=\"1\""));
        assert!(svg.contains("class=\"tick t-auth\" x=\"151\" y=\"146\" width=\"1\""));
        // 8 attempts, each in a column and lane of its own here: 8 bins, each tooltip
        // with its counts.
        assert_eq!(count(svg, "class=\"tick "), 8, "{svg}");
        assert!(
            svg.contains(": 1 attempts (1 rate limited (429))</title>"),
            "{svg}"
        );
        assert!(
            page.contains("binned per pixel column"),
            "the header says so"
        );
    }

    #[test]
    fn a_standard_swarm_seed_renders_in_a_few_megabytes() {
        let w = scenario::load("../scenarios/swarm/standard.json".as_ref()).expect("loads");
        let v = judge(&w, 3, Judge { determinism: false }).expect("runs");
        assert!(v.run.trace.entries.len() > 90_000, "a 100k-line trace");
        let page = render(&v, &Options::default());
        assert!(page.len() < 4_000_000, "{} bytes", page.len());
        assert_eq!(
            count(svg(&page), "<g class=\"lane\""),
            w.catalog.credentials.len()
        );
        // Binned, a bin shows the worst cause among its attempts, and never ok when a
        // failure is among them.
        let options = Options {
            ticks_max: 1_000,
            ..Options::default()
        };
        let page = render(&v, &options);
        let bins: Vec<&str> = svg(&page)
            .lines()
            .filter(|l| l.starts_with("<rect class=\"tick "))
            .collect();
        let lanes = w.catalog.credentials.len();
        assert!(
            bins.len() < v.run.trace.entries.len() / 10,
            "{} bins",
            bins.len()
        );
        assert!(
            bins.len() <= lanes * 1190,
            "at most one bin per lane and pixel column"
        );
        assert!(
            bins.iter()
                .any(|b| b.contains("t-server-error") && b.contains(" ok, ")),
            "a bin of ok and server errors is drawn as server error"
        );
        assert!(!bins
            .iter()
            .any(|b| b.contains("t-ok") && b.contains("server error")));
    }
}
