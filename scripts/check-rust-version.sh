#!/usr/bin/env bash
# Checks that the workspace's `rust-version` is true: no dependency in Cargo.lock declares a
# newer minimum Rust. (clippy's `incompatible_msrv` lint checks the standard library APIs the
# code itself uses against the same `rust-version`.)
#
# Usage: scripts/check-rust-version.sh   exit 0 when true, 1 when a dependency needs newer
set -euo pipefail
cd "$(dirname "$0")/.."

cargo metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, sys

def version(text):
    parts = [int(part) for part in text.split(".")] + [0, 0]
    return tuple(parts[:3])

meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
claimed = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
if len(claimed) != 1 or None in claimed:
    sys.exit(f"workspace members must share one rust-version, found {sorted(map(str, claimed))}")
(claim,) = claimed
newer = sorted(
    (version(p["rust_version"]), p["name"], p["version"])
    for p in meta["packages"]
    if p["id"] not in members and p.get("rust_version") and version(p["rust_version"]) > version(claim)
)
if newer:
    for v, name, pkg_version in newer:
        needs = ".".join(map(str, v))
        print(f"{name} {pkg_version} needs Rust {needs}", file=sys.stderr)
    sys.exit(f"rust-version {claim} is not true: raise it in Cargo.toml")
print(f"rust-version {claim}: no dependency needs newer")
'
