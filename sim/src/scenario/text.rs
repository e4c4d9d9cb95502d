//! Textual values of scenario files: durations, fractions, secret detection and the
//! "did you mean" suggestions of error messages.

/// Milliseconds per unit, largest first (the writer picks the largest exact one).
const UNITS: &[(&str, u64)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// The advice every duration error ends with.
const UNIT_ADVICE: &str = "use ms, s, m, h or d";

/// Parses a duration such as `1500ms`, `30s`, `1.5s`, `2m`, `1h`, `7d` or `1m30s` (units in
/// decreasing order, each at most once) into milliseconds; fractions are rounded to the
/// nearest millisecond, halves up. The error is the problem, to be prefixed with the
/// field path.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let not_a_duration = || format!("{} is not a duration ({UNIT_ADVICE})", quote(text));
    if let Some(rest) = text.strip_prefix('-') {
        // One level only: a run of dashes must not recurse once per dash.
        return Err(if !rest.starts_with('-') && parse_duration(rest).is_ok() {
            format!("{} is negative (a duration is zero or more)", quote(text))
        } else {
            not_a_duration()
        });
    }
    if text.is_empty() {
        return Err(not_a_duration());
    }
    let mut rest = text;
    let mut total: u64 = 0;
    // Index into UNITS of the last unit used: the next must be smaller.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(split);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        if unit.is_empty() {
            return Err(if last_unit.is_none() && !number.is_empty() {
                format!(
                    "{} has no unit ({UNIT_ADVICE}, e.g. \"{text}s\")",
                    quote(text)
                )
            } else {
                not_a_duration()
            });
        }
        let Some(u) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(not_a_duration());
        };
        if last_unit.is_some_and(|l| u <= l) {
            return Err(format!(
                "{} is not a duration (units in decreasing order, each once: \"1m30s\")",
                quote(text)
            ));
        }
        last_unit = Some(u);
        let ms = amount(number, UNITS[u].1).ok_or_else(|| {
            if number.is_empty()
                || number.split('.').any(str::is_empty)
                || number.matches('.').count() > 1
            {
                not_a_duration()
            } else {
                format!("{} is too large", quote(text))
            }
        })?;
        total = total
            .checked_add(ms)
            .ok_or_else(|| format!("{} is too large", quote(text)))?;
        rest = next;
    }
    Ok(total)
}

/// `number` (digits, optionally `.digits`) times `unit_ms`, rounded to the nearest ms.
fn amount(number: &str, unit_ms: u64) -> Option<u64> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (number.contains('.') && !digits(frac)) {
        return None;
    }
    let whole: u128 = int.parse().ok()?;
    // At most 18 fraction digits matter: 10^18 × 3.6e6 still fits a u128.
    let frac = &frac[..frac.len().min(18)];
    let frac_ms = if frac.is_empty() {
        0
    } else {
        let scale = 10u128.pow(frac.len() as u32);
        let f: u128 = frac.parse().ok()?;
        (f * u128::from(unit_ms) * 2 + scale) / (2 * scale)
    };
    let ms = whole
        .checked_mul(u128::from(unit_ms))?
        .checked_add(frac_ms)?;
    u64::try_from(ms).ok()
}

/// Writes milliseconds in the largest unit that represents them exactly (`"90s"`,
/// `"2m"`, `"1500ms"`, `"0s"`).
pub fn format_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    for (unit, unit_ms) in UNITS {
        if ms.is_multiple_of(*unit_ms) {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{ms}ms")
}

/// A fraction in `0..=1` as basis points (rounded to the nearest).
pub(super) fn fraction_bp(x: f64) -> Result<u32, String> {
    if !(0.0..=1.0).contains(&x) {
        return Err(format!("{x} is not a fraction (use a number from 0 to 1)"));
    }
    // In range, so the cast cannot truncate.
    Ok((x * 10_000.0).round() as u32)
}

/// Basis points as the fraction written in files.
pub(super) fn bp_fraction(bp: u32) -> f64 {
    f64::from(bp) / 10_000.0
}

/// `"text"` with JSON escaping, for messages; a long text is cut after
/// [`QUOTED_CHARS_MAX`] characters and says how long it was.
pub(super) fn quote(text: &str) -> String {
    let count = text.chars().count();
    if count > QUOTED_CHARS_MAX {
        let head: String = text.chars().take(QUOTED_CHARS_MAX).collect();
        return format!("{}… ({count} characters)", quote(&head));
    }
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

/// Most characters of a value a message quotes.
const QUOTED_CHARS_MAX: usize = 80;

/// A kind of real secret: its fixed prefix, how many body characters make it one, and
/// whether the body is counted as one run or as its longest `-`/`_`-separated segment
/// (labels like `sk-primary-org-key` have short segments; real keys do not).
struct SecretShape {
    prefix: &'static str,
    body_min: usize,
    longest_segment: bool,
}

const SECRETS: &[SecretShape] = &[
    // Anthropic API and admin keys: their body is short `-`/`_`-separated runs, so the
    // versioned prefix is what marks them, and the whole body is counted.
    SecretShape {
        prefix: "sk-ant-api",
        body_min: 40,
        longest_segment: false,
    },
    SecretShape {
        prefix: "sk-ant-admin",
        body_min: 40,
        longest_segment: false,
    },
    // Anthropic: sk-ant-api03-<95 chars>.
    SecretShape {
        prefix: "sk-ant-",
        body_min: 20,
        longest_segment: true,
    },
    // OpenAI and compatibles: sk-<48>, sk-proj-<...>, sk-or-v1-<64 hex>.
    SecretShape {
        prefix: "sk-",
        body_min: 20,
        longest_segment: true,
    },
    // Google API keys: AIza<35>.
    SecretShape {
        prefix: "AIza",
        body_min: 30,
        longest_segment: false,
    },
    // Groq.
    SecretShape {
        prefix: "gsk_",
        body_min: 20,
        longest_segment: true,
    },
    // xAI.
    SecretShape {
        prefix: "xai-",
        body_min: 20,
        longest_segment: true,
    },
    // AWS access key ids.
    SecretShape {
        prefix: "AKIA",
        body_min: 16,
        longest_segment: false,
    },
    // GitHub tokens.
    SecretShape {
        prefix: "ghp_",
        body_min: 30,
        longest_segment: false,
    },
];

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Finds the first secret-looking run in `text`: (start, end, redacted form).
fn find(text: &str) -> Option<(usize, usize, String)> {
    let bytes = text.as_bytes();
    for start in 0..bytes.len() {
        // A prefix counts only at a word boundary ("task-…" is not "sk-…").
        if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        for shape in SECRETS {
            let p = shape.prefix.as_bytes();
            if !bytes[start..].starts_with(p) {
                continue;
            }
            let body_start = start + p.len();
            let body_len = bytes[body_start..]
                .iter()
                .take_while(|b| key_char(**b))
                .count();
            let body = &bytes[body_start..body_start + body_len];
            let size = if shape.longest_segment {
                body.split(|b| *b == b'-' || *b == b'_')
                    .map(<[u8]>::len)
                    .max()
                    .unwrap_or(0)
            } else {
                body_len
            };
            if size >= shape.body_min {
                return Some((start, body_start + body_len, format!("{}…", shape.prefix)));
            }
        }
    }
    None
}

/// The redacted form (`sk-…`) of the first secret-looking value in `text`, if any.
pub(super) fn find_secret(text: &str) -> Option<String> {
    find(text).map(|(_, _, redacted)| redacted)
}

/// `text` with every secret-looking run replaced by its redacted form, so no message
/// ever echoes a secret.
pub(super) fn redact(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some((start, end, redacted)) = find(rest) {
        out.push_str(&rest[..start]);
        out.push_str(&redacted);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The candidate closest to `name` by edit distance, if close enough to be a typo.
pub(super) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `a, b, c` (at most 12 names, then `… and N more`), or `none` for an empty list.
pub(super) fn known_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    const SHOWN_MAX: usize = 12;
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        return "none".to_owned();
    }
    let mut out = names
        .iter()
        .take(SHOWN_MAX)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN_MAX {
        out.push_str(&format!(" … and {} more", names.len() - SHOWN_MAX));
    }
    out
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
/// transpositions (`stlye` → `style` is one edit) each cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d: Vec<usize> = vec![0; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_round_to_ms() {
        assert_eq!(parse_duration("1500ms"), Ok(1500));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("2m"), Ok(120_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert_eq!(parse_duration("1.5s"), Ok(1500));
        assert_eq!(parse_duration("0.0005s"), Ok(1), "halves round up");
        assert_eq!(parse_duration("0.0004s"), Ok(0));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("0.25m"), Ok(15_000));
        assert_eq!(parse_duration("6m30s"), Ok(390_000));
        assert_eq!(parse_duration("1h1m1s1ms"), Ok(3_661_001));
        assert_eq!(parse_duration("1m0.5s"), Ok(60_500));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert_eq!(parse_duration("1.5d"), Ok(129_600_000));
        assert_eq!(parse_duration("2d12h"), Ok(216_000_000));
        assert_eq!(parse_duration("3650d"), Ok(87_600 * 3_600_000));
    }

    #[test]
    fn days_come_first_once_and_are_lower_case() {
        for bad in ["1h1d", "1d1d", "1D", "d", "1da", "1dd", "1 d", "1.d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        let e = parse_duration("1h2d").expect_err("out of order");
        assert!(e.contains("units in decreasing order"), "{e}");
        assert!(parse_duration("213503982335d")
            .expect_err("u64 milliseconds overflow")
            .contains("too large"));
    }

    #[test]
    fn bad_durations_say_why() {
        let e = parse_duration("3x").expect_err("bad unit");
        assert_eq!(e, r#""3x" is not a duration (use ms, s, m, h or d)"#);
        assert!(parse_duration("-5s")
            .expect_err("negative")
            .contains("negative"));
        assert!(parse_duration("5")
            .expect_err("no unit")
            .contains("no unit"));
        for bad in [
            "", "s", ".5s", "1.s", "1..2s", "1 s", " 1s", "1e3s", "-x", "1sm", "5S",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_duration("99999999999999999999999h")
            .expect_err("too large")
            .contains("too large"));
        assert!(
            parse_duration("5124095576030432h").is_err(),
            "overflows u64 ms"
        );
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit() {
        for (ms, text) in [
            (0, "0s"),
            (1, "1ms"),
            (1500, "1500ms"),
            (30_000, "30s"),
            (90_000, "90s"),
            (120_000, "2m"),
            (3_600_000, "1h"),
            (5_400_000, "90m"),
            (86_400_000, "1d"),
            (90_000_000, "25h"),
            (604_800_000, "7d"),
        ] {
            assert_eq!(format_duration(ms), text);
            assert_eq!(parse_duration(text), Ok(ms));
        }
    }

    #[test]
    fn fractions_round_trip_through_basis_points() {
        for bp in [0, 1, 2500, 3333, 9999, 10_000] {
            assert_eq!(fraction_bp(bp_fraction(bp)), Ok(bp));
        }
        assert!(fraction_bp(1.5).is_err());
        assert!(fraction_bp(-0.1).is_err());
    }

    #[test]
    fn secrets_are_found_and_redacted() {
        let openai = format!("sk-{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7kL9mN1pQ3");
        let project = format!("sk-proj-{}", "Xy12".repeat(10));
        let anthropic = format!("sk-ant-api03-{}-AA", "Qw9".repeat(30));
        let google = format!("AIzaSy{}", "D3fG5hJ7kL9mN1pQ3sT5vW7yZ9bC1dE3f");
        for (secret, shown) in [
            (openai.as_str(), "sk-…"),
            (project.as_str(), "sk-…"),
            (anthropic.as_str(), "sk-ant-api…"),
            (google.as_str(), "AIza…"),
        ] {
            assert_eq!(find_secret(secret).as_deref(), Some(shown), "{secret}");
            let url = format!("https://example.test/v1?key={secret}&x=1");
            assert_eq!(
                redact(&url),
                format!("https://example.test/v1?key={shown}&x=1")
            );
        }
        for label in [
            "k0",
            "sk-primary",
            "sk-primary-org-key-for-west",
            "task-0123456789abcdefghijklmnop",
            "org-openai",
            "AIza-short",
            "API key not valid. Please pass a valid API key.",
        ] {
            assert_eq!(find_secret(label), None, "{label}");
            assert_eq!(redact(label), label);
        }
    }

    #[test]
    fn suggestions_are_close_names_only() {
        let names = ["faults", "workload", "expect"];
        assert_eq!(closest("fualts", names), Some("faults"));
        assert_eq!(closest("workloads", names), Some("workload"));
        assert_eq!(closest("zzz", names), None);
        assert_eq!(closest("stlye", ["style", "regions"]), Some("style"));
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(known_list(["a", "b"]), "a, b");
        assert_eq!(known_list([]), "none");
        let many: Vec<String> = (0..15).map(|i| format!("k{i}")).collect();
        assert!(known_list(many.iter().map(String::as_str)).ends_with("… and 3 more"));
    }
}
