#!/usr/bin/env bash
# Builds the example policy plugins (plugins/examples/*) as WebAssembly
# components that import nothing but ebb:policy/host@0.1.0.
#
#   scripts/build-plugins.sh [OUT_DIR]
#
# OUT_DIR defaults to $CARGO_TARGET_DIR/plugins (target/plugins when
# CARGO_TARGET_DIR is unset). Each crate plugins/examples/NAME becomes
# OUT_DIR/NAME_WITH_UNDERSCORES.wasm. Steps: make sure the
# wasm32-unknown-unknown target is installed, build every example's core
# module in release mode (debug info stripped: 20x smaller), then run
# ebb-componentize on each module that changed since its component was
# written. A second run with no changes does no work beyond cargo's checks.
# Set EBB_COMPONENTIZE to use an already built ebb-componentize binary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
out_dir="${1:-$target_dir/plugins}"
wasm_target=wasm32-unknown-unknown
cargo="${CARGO:-cargo}"

if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$wasm_target"; then
        rustup target add "$wasm_target"
    fi
fi

packages=()
for manifest in "$root"/plugins/examples/*/Cargo.toml; do
    packages+=("$(basename "$(dirname "$manifest")")")
done
if [ ${#packages[@]} -eq 0 ]; then
    echo "build-plugins: no plugins under $root/plugins/examples" >&2
    exit 1
fi

package_args=()
for package in "${packages[@]}"; do
    package_args+=(-p "$package")
done
"$cargo" build --quiet --manifest-path "$root/Cargo.toml" --release --target "$wasm_target" \
    --config 'profile.release.debug=false' --config 'profile.release.strip="debuginfo"' \
    "${package_args[@]}"

componentize="${EBB_COMPONENTIZE:-}"
if [ -z "$componentize" ]; then
    "$cargo" build --quiet --manifest-path "$root/Cargo.toml" -p ebb-componentize
    componentize="$target_dir/debug/ebb-componentize"
fi

mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
for package in "${packages[@]}"; do
    name="${package//-/_}"
    module="$target_dir/$wasm_target/release/$name.wasm"
    component="$out_dir/$name.wasm"
    if [ ! -e "$component" ] || [ "$module" -nt "$component" ] || [ "$componentize" -nt "$component" ]; then
        "$componentize" "$module" "$component"
    fi
done

echo "build-plugins: components in $out_dir:"
for package in "${packages[@]}"; do
    echo "  $out_dir/${package//-/_}.wasm"
done
