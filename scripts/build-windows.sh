#!/usr/bin/env bash
# Cross-builds ebb.exe for 64-bit Windows (x86_64-pc-windows-gnu) on Linux,
# idempotently: installs the Rust target and Debian's mingw-w64 toolchain
# when missing, builds in release mode, strips the binary and prints its
# size and the DLLs it imports (system DLLs only).
#
#   scripts/build-windows.sh            # prints the stripped ebb.exe's path last
#
# The cross build goes to EBB_WINDOWS_TARGET_DIR (default: CARGO_TARGET_DIR,
# else target/); the stripped binary to $dir/x86_64-pc-windows-gnu/dist/ebb.exe.
# A clean build takes 6 to 7 minutes on 2 cores (wasmtime's Cranelift is
# most of it); an unchanged tree takes seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
triple=x86_64-pc-windows-gnu
target_dir="${EBB_WINDOWS_TARGET_DIR:-${CARGO_TARGET_DIR:-$root/target}}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  echo "build-windows: installing the mingw-w64 toolchain (gcc-mingw-w64-x86-64)"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 >/dev/null
fi
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$triple"; then
  echo "build-windows: adding the Rust target $triple"
  rustup target add "$triple"
fi

start=$(date +%s)
CARGO_TARGET_DIR="$target_dir" cargo build --release --locked -p ebb --target "$triple" \
  --manifest-path "$root/Cargo.toml"
took=$(($(date +%s) - start))

built="$target_dir/$triple/release/ebb.exe"
dist="$target_dir/$triple/dist"
mkdir -p "$dist"
x86_64-w64-mingw32-strip -o "$dist/ebb.exe.tmp" "$built"
mv "$dist/ebb.exe.tmp" "$dist/ebb.exe"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }
echo "build-windows: built in ${took}s; ebb.exe is $(mb "$(stat -c %s "$dist/ebb.exe")") stripped ($(mb "$(stat -c %s "$built")") before)"
dlls=$(x86_64-w64-mingw32-objdump -p "$dist/ebb.exe" | awk '/DLL Name:/ { print tolower($3) }' | sort -u | paste -sd ' ')
echo "build-windows: it imports $dlls"
echo "$dist/ebb.exe"
