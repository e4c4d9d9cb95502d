#!/usr/bin/env python3
"""Renders LiteLLM proxy's config.yaml from a gatesim black-box world file.

    python3 adapters/litellm_render.py WORLD_JSON OUT_YAML [--tuned]

Used by adapters/litellm.toml and adapters/litellm-tuned.toml (docs/gateways/litellm.md).
Dependency-free: the output is JSON, which LiteLLM's YAML loader reads as YAML. It holds
the run's fake tokens, so it is written owner-only and never printed.

model_list: one LiteLLM deployment per (model, place it is served at, credential of that
provider that may be sent to that region), in the scenario's order (model, served_by,
credential), named after the scenario's model id:

  upstream style  litellm model          api_base                 LiteLLM sends
  openai          openai/<upstream>      <listener>/v1            POST /v1/chat/completions, Authorization: Bearer
  generic         openai/<upstream>      <listener>/v1            the same (OpenAI-compatible)
  anthropic       anthropic/<upstream>   <listener>               POST /v1/messages, x-api-key
  google          gemini/<upstream>      <listener>/v1beta        POST /v1beta/models/<upstream>:generateContent
                                                                  (:streamGenerateContent?alt=sse), x-goog-api-key

When any credential has a `weight` other than 1, every deployment gets its credential's
`weight` in `litellm_params`: LiteLLM's simple-shuffle then picks by weight (it reads
the weights only when the first healthy deployment has one, and counts a missing one as 0).

A credential with an `endpoint` (scenario field; the world file does not carry it, so it is
read from the scenario file the world file names) goes to the listener that stands for
that endpoint. The scenario's other names a client may send get groups of their own:
an alias (`alias_of`) = the deployments of its members in order; `provider/model` = the
model's deployments on that provider only. Every deployment gets a `model_info.id` of its
own (`<group>#<model>|<provider>|<region>|<credential>`), readable in LiteLLM's logs.

router_settings:
  default   nothing: LiteLLM's own defaults (num_retries 2 as the proxy sets it,
            simple-shuffle, cooldown 5 s, the v2 cooldown policy).
  --tuned   set from the world file's contract:
              num_retries   = attempts_max - 1        (LiteLLM: retries after the first call)
              allowed_fails = errors_consecutive_max - 1
                              (LiteLLM cools a deployment when its fails within
                               cooldown_time exceed allowed_fails, i.e. on the
                               errors_consecutive_max-th; successes do not reset it)
              allowed_fails_policy = 0 for RateLimitError and AuthenticationError
                              (the contract cools at the first 429, blacklists at
                               the first 401)
              cooldown_time = retry_after_default_ms / 1000 (LiteLLM has one cooldown for
                              every cause; a provider Retry-After still overrides it)
              timeout       = attempt_timeout_ms / 1000 (per call)
            Setting allowed_fails switches LiteLLM to its v1 cooldown policy (a per-
            deployment fail counter), which also applies to single-deployment groups.
"""

import json
import os
import sys


def die(msg):
    print(f"litellm_render: {msg}", file=sys.stderr)
    sys.exit(2)


def litellm_params(style, upstream, base_url, token):
    base = base_url.rstrip("/")
    if style in ("openai", "generic"):
        return {"model": f"openai/{upstream}", "api_base": f"{base}/v1", "api_key": token}
    if style == "anthropic":
        return {"model": f"anthropic/{upstream}", "api_base": base, "api_key": token}
    if style == "google":
        # LiteLLM builds {api_base}/models/{model}:{generateContent|streamGenerateContent}
        # for a custom Gemini api_base and sends the key as x-goog-api-key.
        return {"model": f"gemini/{upstream}", "api_base": f"{base}/v1beta", "api_key": token}
    die(f"unknown upstream style {style!r}")


def render(world, scenario, tuned):
    # Endpoints and aliases are in the scenario, not in the world file.
    endpoint_of = {c["id"]: c.get("endpoint") for c in scenario.get("credentials", [])}
    aliases = [
        (m["id"], m["alias_of"]) for m in scenario.get("models", []) if m.get("alias_of")
    ]
    listeners = {}
    for u in world["upstreams"]:
        listeners[(u["provider"], u["region"], u.get("endpoint"))] = u
    per_model = {}
    weighted = any(c.get("weight", 1) != 1 for c in world["credentials"])
    for m in world["models"]:
        deployments = []
        for s in m["served_by"]:
            for c in world["credentials"]:
                if c["provider"] != s["provider"]:
                    continue
                if c.get("region") is not None and c["region"] != s["region"]:
                    continue
                key = (s["provider"], s["region"], endpoint_of.get(c["id"]))
                u = listeners.get(key)
                if u is None:
                    die(f"no listener for {key} (credential {c['id']})")
                params = litellm_params(u["style"], s["upstream"], u["base_url"], c["token"])
                if weighted:
                    params["weight"] = c.get("weight", 1)
                deployments.append(
                    {
                        "provider": s["provider"],
                        "params": params,
                        "id": f"{m['id']}|{s['provider']}|{s['region']}|{c['id']}",
                    }
                )
        if not deployments:
            die(f"model {m['id']}: no credential may be sent to any place serving it")
        per_model[m["id"]] = deployments

    groups = []  # (client name, deployments)
    for name, deps in per_model.items():
        groups.append((name, deps))
    for alias, members in aliases:
        groups.append((alias, [d for mem in members for d in per_model.get(mem, [])]))
    providers = sorted({d["provider"] for deps in per_model.values() for d in deps})
    for name, deps in per_model.items():
        for p in providers:
            only = [d for d in deps if d["provider"] == p]
            if only:
                groups.append((f"{p}/{name}", only))

    model_list = []
    for name, deps in groups:
        for d in deps:
            model_list.append(
                {
                    "model_name": name,
                    "litellm_params": dict(d["params"]),
                    "model_info": {"id": f"{name}#{d['id']}"},
                }
            )

    config = {
        "model_list": model_list,
        # The master key comes from the environment (LITELLM_MASTER_KEY), never this file.
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
        "litellm_settings": {"telemetry": False},
    }
    if tuned:
        c = world["contract"]
        config["router_settings"] = {
            "num_retries": max(0, c["attempts_max"] - 1),
            "allowed_fails": max(0, c["errors_consecutive_max"] - 1),
            # The contract cools a key at its first 429 and blacklists it at its first
            # 401: no allowance for those two.
            "allowed_fails_policy": {
                "RateLimitErrorAllowedFails": 0,
                "AuthenticationErrorAllowedFails": 0,
            },
            "cooldown_time": c["retry_after_default_ms"] / 1000,
            "timeout": c["attempt_timeout_ms"] / 1000,
        }
    return config


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = [a for a in argv if a.startswith("--")]
    if len(args) != 2 or any(f != "--tuned" for f in flags):
        die("usage: litellm_render.py WORLD_JSON OUT_YAML [--tuned]")
    world_path, out_path = args
    with open(world_path, encoding="utf-8") as f:
        world = json.load(f)
    with open(world["scenario"], encoding="utf-8") as f:
        scenario = json.load(f)
    config = render(world, scenario, "--tuned" in flags)
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    n = len(config["model_list"])
    print(f"litellm_render: {n} deployments for {world['scenario_id']} -> {out_path}"
          + (" (tuned router settings)" if "--tuned" in flags else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
