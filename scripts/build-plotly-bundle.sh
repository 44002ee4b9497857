#!/usr/bin/env bash
# Rebuilds assets/vendor/plotly/plotly-auditdash.min.js: plotly.js with only the trace types the
# pages draw (see TRACES), from the npm package `plotly.js` at the version the installed plotly
# Python package bundles (so the figures' JSON and the library match), bundled with esbuild.
#
# Usage: scripts/build-plotly-bundle.sh [PYTHON]        (default: .venv/bin/python)
#
# Dash serves every script in assets/ on every page, before its renderer starts; dcc.Graph then
# uses that `window.Plotly` and never fetches Dash's full plotly.min.js (4.8 MB, 1 to 2 s of
# evaluation on two cores against about 0.3 s for this bundle). See docs/architecture.md,
# "Pages in the browser". A trace type not listed here draws nothing: add it to TRACES (and to
# tests/test_plotly_bundle.py's list) and run this script again.
#
# Needs node and npm (the Makefile's test dependencies); works in a temporary folder.
set -euo pipefail

readonly TRACES=(bar heatmap scattergeo choropleth) # scatter is part of plotly.js's core
readonly ESBUILD_VERSION="0.25.12"
readonly OUT_DIR="assets/vendor/plotly"
readonly OUT="$OUT_DIR/plotly-auditdash.min.js"

python="${1:-.venv/bin/python}"
cd "$(dirname "$0")/.."
version="$("$python" -c 'from plotly.offline import get_plotlyjs_version as v; print(v())')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "build-plotly-bundle: plotly.js $version, traces scatter ${TRACES[*]}"
(
    cd "$work"
    printf '{"name": "plotly-auditdash", "private": true}\n' >package.json
    npm install --silent --no-audit --no-fund --ignore-scripts "plotly.js@$version" "esbuild@$ESBUILD_VERSION"
    {
        echo "'use strict';"
        echo "var Plotly = require('plotly.js/lib/core');"
        echo "Plotly.register(["
        for trace in "${TRACES[@]}"; do
            echo "    require('plotly.js/lib/$trace'),"
        done
        echo "]);"
        echo "module.exports = Plotly;"
    } >entry.js
    # the options of plotly.js's own esbuild-config.js; CSS (maplibre's, required only when a map
    # trace is registered) is left out, and the licence comment is kept at the top
    ./node_modules/.bin/esbuild entry.js --bundle --minify --format=iife --global-name=Plotly \
        --define:global=window --define:define.amd=false --target=es2016 \
        --alias:stream=stream-browserify --loader:.css=empty --legal-comments=none \
        --banner:js="/*! plotly.js $version (MIT, https://github.com/plotly/plotly.js), partial bundle for auditdash: scatter ${TRACES[*]}; rebuilt by scripts/build-plotly-bundle.sh */" \
        --log-level=warning --outfile=bundle.js
    cp node_modules/plotly.js/LICENSE LICENSE
)
mkdir -p "$OUT_DIR"
cp "$work/bundle.js" "$OUT"
cp "$work/LICENSE" "$OUT_DIR/LICENSE"
echo "build-plotly-bundle: wrote $OUT ($(wc -c <"$OUT") bytes) and $OUT_DIR/LICENSE"
