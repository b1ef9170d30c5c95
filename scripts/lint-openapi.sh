#!/usr/bin/env bash
# Lints the OpenAPI document the service serves (built in-process from buildApp on a
# throw-away SQLite database, nothing listens) with Spectral and .spectral.yaml. Fails on any
# error; warnings are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
node --import tsx scripts/openapi-document.ts "$dir/openapi.json"
npx spectral lint --ruleset .spectral.yaml --fail-severity error "$dir/openapi.json"
