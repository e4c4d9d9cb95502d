//! A bounded line diff of two snapshots: the changed lines with a little context, in
//! hunks marked `-` and `+`, the first few only.

use similar::{capture_diff, group_diff_ops, Algorithm, DiffOp, DiffTag};
use std::fmt::Write as _;

/// Lines of unchanged context around each change.
pub const CONTEXT_LINES: usize = 3;

/// Hunks shown at most; the rest are counted.
pub const HUNKS_MAX: usize = 5;

/// Diff lines shown at most (hunk headers and context included): a change that
/// reroutes every later request is one long hunk, and its start tells the story.
pub const OUTPUT_LINES_MAX: usize = 60;

/// Lines of each side's differing middle (after the common prefix and suffix are
/// trimmed) given to the diff algorithm at most. Myers costs O((n + m) · d), so two
/// unrelated 100 000-line traces would take minutes; the first hunks, which are all
/// that is shown, lie at the start of the middle anyway.
pub const MIDDLE_LINES_MAX: usize = 2_000;

/// The diff of `old` and `new`, line by line: `@@ -a,b +c,d @@` hunks (1-based line
/// numbers) with `CONTEXT_LINES` of context, at most `hunks_max` of them. Empty when
/// the two are the same. At most `OUTPUT_LINES_MAX` lines, then a count of the rest.
pub fn lines(old: &str, new: &str, hunks_max: usize) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_end, new_end) = (old.len() - suffix, new.len() - suffix);
    if prefix == old_end && prefix == new_end {
        return String::new();
    }
    let truncated = old_end - prefix > MIDDLE_LINES_MAX || new_end - prefix > MIDDLE_LINES_MAX;
    let old_cut = old_end.min(prefix + MIDDLE_LINES_MAX);
    let new_cut = new_end.min(prefix + MIDDLE_LINES_MAX);

    let mut ops = vec![DiffOp::Equal {
        old_index: 0,
        new_index: 0,
        len: prefix,
    }];
    ops.extend(capture_diff(
        Algorithm::Myers,
        &old,
        prefix..old_cut,
        &new,
        prefix..new_cut,
    ));
    if !truncated {
        ops.push(DiffOp::Equal {
            old_index: old_end,
            new_index: new_end,
            len: suffix,
        });
    }
    let hunks = group_diff_ops(ops, CONTEXT_LINES);

    let mut out = String::new();
    for hunk in hunks.iter().take(hunks_max) {
        render_hunk(hunk, &old, &new, &mut out);
    }
    let shown = out.lines().count();
    if shown > OUTPUT_LINES_MAX {
        let cut = out
            .match_indices('\n')
            .nth(OUTPUT_LINES_MAX - 1)
            .map_or(out.len(), |(i, _)| i + 1);
        out.truncate(cut);
        let _ = writeln!(out, "... {} more diff lines", shown - OUTPUT_LINES_MAX);
    }
    if hunks.len() > hunks_max {
        let more = hunks.len() - hunks_max;
        let _ = writeln!(
            out,
            "... {more} more hunk{}{}",
            if more == 1 { "" } else { "s" },
            if truncated { " at least" } else { "" }
        );
    }
    if truncated {
        let _ = writeln!(
            out,
            "... only the first {MIDDLE_LINES_MAX} differing lines were compared (from line {})",
            prefix + 1
        );
    }
    out
}

fn render_hunk(hunk: &[DiffOp], old: &[&str], new: &[&str], out: &mut String) {
    let (Some(first), Some(last)) = (hunk.first(), hunk.last()) else {
        return;
    };
    let (_, old_first, new_first) = first.as_tag_tuple();
    let (_, old_last, new_last) = last.as_tag_tuple();
    let (old_len, new_len) = (
        old_last.end - old_first.start,
        new_last.end - new_first.start,
    );
    let _ = writeln!(
        out,
        "@@ -{},{old_len} +{},{new_len} @@",
        old_first.start + 1,
        new_first.start + 1
    );
    for op in hunk {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => {
                for line in &old[old_range] {
                    let _ = writeln!(out, "  {line}");
                }
            }
            DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                for line in &old[old_range] {
                    let _ = writeln!(out, "- {line}");
                }
                for line in &new[new_range] {
                    let _ = writeln!(out, "+ {line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("line {i}")).collect()
    }

    #[test]
    fn the_same_text_has_no_diff() {
        assert_eq!(lines("a\nb\n", "a\nb\n", HUNKS_MAX), "");
    }

    #[test]
    fn a_changed_line_is_shown_with_its_context() {
        let old = numbered(20);
        let mut new = old.clone();
        new[10] = "changed".to_string();
        let d = lines(&old.join("\n"), &new.join("\n"), HUNKS_MAX);
        assert_eq!(
            d,
            "@@ -8,7 +8,7 @@\n  line 7\n  line 8\n  line 9\n- line 10\n+ changed\n  line 11\n  line 12\n  line 13\n"
        );
    }

    #[test]
    fn only_the_first_hunks_are_shown() {
        let old = numbered(200);
        let mut new = old.clone();
        for i in (0..200).step_by(20) {
            new[i] = format!("x{i}");
        }
        let d = lines(&old.join("\n"), &new.join("\n"), 2);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
        assert!(d.ends_with("... 8 more hunks\n"), "{d}");
    }

    #[test]
    fn a_long_hunk_is_cut() {
        let old = numbered(500);
        let new: Vec<String> = old.iter().map(|l| format!("{l}!")).collect();
        let d = lines(&old.join("\n"), &new.join("\n"), HUNKS_MAX);
        assert_eq!(d.lines().count(), OUTPUT_LINES_MAX + 1, "{d}");
        assert!(d.ends_with("... 941 more diff lines\n"), "{d}");
    }

    #[test]
    fn an_added_tail_is_a_diff() {
        let d = lines("a\nb", "a\nb\nc", HUNKS_MAX);
        assert_eq!(d, "@@ -1,2 +1,3 @@\n  a\n  b\n+ c\n");
    }

    #[test]
    fn two_unrelated_long_traces_are_diffed_in_bounded_time() {
        let old: Vec<String> = (0..100_000).map(|i| format!("old {i}")).collect();
        let new: Vec<String> = (0..100_000).map(|i| format!("new {i}")).collect();
        let d = lines(&old.join("\n"), &new.join("\n"), HUNKS_MAX);
        assert!(
            d.starts_with("@@ -1,2000 +1,2000 @@\n- old 0\n"),
            "{}",
            &d[..60]
        );
        assert!(
            d.ends_with("... only the first 2000 differing lines were compared (from line 1)\n"),
            "{d}"
        );
    }
}
