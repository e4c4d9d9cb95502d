//! Adapter files (`adapters/*.toml`): how black-box mode starts one kind of gateway, knows
//! it is ready, and reaches it as a client. The format is in `docs/blackbox.md`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One gateway kind.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adapter {
    /// Its name, as `--gateway` takes it.
    pub name: String,
    /// One line on what it drives.
    #[serde(default)]
    pub description: String,
    /// A command that turns the world file into the gateway's own configuration, run
    /// before `start` (optional).
    #[serde(default)]
    pub render: Vec<String>,
    /// The command that starts the gateway.
    pub start: Vec<String>,
    /// Arguments added to `start` per `--regression KNOB` (`{knob}` is the knob); only
    /// gateways with knobs (gatesim's own) have them.
    #[serde(default)]
    pub regression_args: Vec<String>,
    /// Environment for `render` and `start`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How to know it is ready.
    pub health: Health,
    /// How a client reaches it.
    pub client: ClientSide,
    /// Where the file was read from (set by [`load`]).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// Readiness.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// A URL that answers 2xx once the gateway is ready.
    pub url: String,
    /// Extra headers (e.g. an admin key).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long to wait, in seconds.
    #[serde(default = "ready_within")]
    pub timeout_s: u64,
}

fn ready_within() -> u64 {
    30
}

/// The client side.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSide {
    /// The OpenAI-compatible chat completions URL.
    pub url: String,
    /// Headers every request carries; `{client_key}` is the project's key.
    pub headers: BTreeMap<String, String>,
}

/// Reads `adapters/NAME.toml` (or a path to a `.toml` file).
pub fn load(name_or_path: &str) -> Result<Adapter, String> {
    let path = if name_or_path.ends_with(".toml") {
        PathBuf::from(name_or_path)
    } else {
        Path::new("adapters").join(format!("{name_or_path}.toml"))
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "--gateway {name_or_path}: cannot read {}: {e} (adapters live in adapters/*.toml)",
            path.display()
        )
    })?;
    let mut adapter: Adapter =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if adapter.start.is_empty() {
        return Err(format!("{}: start: the command is empty", path.display()));
    }
    adapter.dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok(adapter)
}

/// Fills `{name}` placeholders from `vars`; an unknown one is an error naming it.
pub fn fill(template: &str, vars: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("{template:?}: an unclosed {{"));
        };
        let name = &after[..close];
        let value = vars.get(name).ok_or_else(|| {
            let known: Vec<&str> = vars.keys().copied().collect();
            format!(
                "{template:?}: unknown placeholder {{{name}}} (known: {})",
                known.join(", ")
            )
        })?;
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_and_unknown_ones_are_named() {
        let vars: BTreeMap<&str, String> = [("port", "8080".to_string())].into();
        assert_eq!(
            fill("http://127.0.0.1:{port}/h", &vars).as_deref(),
            Ok("http://127.0.0.1:8080/h")
        );
        let e = fill("{nope}", &vars).expect_err("unknown");
        assert!(e.contains("unknown placeholder {nope}"), "{e}");
    }

    #[test]
    fn the_shipped_adapters_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters");
        let mut n = 0;
        for entry in std::fs::read_dir(&root).expect("adapters/") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|x| x == "toml") {
                let a = load(path.to_str().expect("utf-8")).expect("parses");
                assert!(!a.name.is_empty());
                n += 1;
            }
        }
        assert!(n >= 1);
    }
}
