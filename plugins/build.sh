#!/usr/bin/env bash
# Builds every plugin crate in this workspace (the examples and the test
# plugins) as a WebAssembly component and copies each to dist/<crate>.wasm.
#
#   bash plugins/build.sh            # from anywhere
#
# Rust's wasm32-wasip2 target links components directly, so no extra tool is
# needed; each output is still checked to be a component, not a core module.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

target=wasm32-wasip2
# .cargo/config.toml puts artifacts under the root target/; honour an
# override from the environment as cargo does.
target_dir="${CARGO_TARGET_DIR:-$here/../target/plugins}"
out="$target_dir/$target/release"
dist="$here/dist"

# Every cdylib crate under examples/ and test-plugins/ is a plugin.
crates=()
for manifest in examples/*/Cargo.toml test-plugins/*/Cargo.toml; do
    [[ -f "$manifest" ]] || continue
    if grep -Eq '^crate-type *= *\[.*"cdylib"' "$manifest"; then
        name="$(sed -nE 's/^name *= *"([^"]+)".*/\1/p' "$manifest" | head -n1)"
        [[ -n "$name" ]] || { echo "error: no package name in $manifest" >&2; exit 1; }
        crates+=("$name")
    fi
done
if [[ ${#crates[@]} -eq 0 ]]; then
    echo "error: no plugin crates found" >&2
    exit 1
fi

packages=()
for name in "${crates[@]}"; do packages+=(-p "$name"); done
cargo build --release --target "$target" "${packages[@]}"

mkdir -p "$dist"
# The component-model preamble: `\0asm`, version 0x0d, layer 1. A core
# module has version 1, layer 0 here.
component_magic="0061736d0d000100"
failed=0
for name in "${crates[@]}"; do
    artifact="$out/${name//-/_}.wasm"
    if [[ ! -f "$artifact" ]]; then
        echo "error: $name: $artifact was not produced" >&2
        failed=1
        continue
    fi
    magic="$(head -c 8 "$artifact" | od -An -tx1 | tr -d ' \n')"
    if [[ "$magic" != "$component_magic" ]]; then
        echo "error: $name: $artifact is not a component (starts with $magic)" >&2
        failed=1
        continue
    fi
    cp "$artifact" "$dist/$name.wasm"
    printf '%-24s %8d bytes  dist/%s.wasm\n' "$name" "$(wc -c < "$dist/$name.wasm")" "$name"
done
exit "$failed"
