#!/usr/bin/env bash
# Installs what the Windows and macOS checks (scripts/test-windows.sh, scripts/check-macos.sh)
# need, from Debian's and PyPI's packages only. Called by scripts/setup.sh. Idempotent, and
# quick when everything is there (a few dpkg queries and file tests).
#
# - Debian's rustc-web (bookworm-security: rustc, cargo, clippy, std and std's source), fetched
#   with `apt-get download` and unpacked with `dpkg-deb -x` into the cache folder: installing
#   it is not possible beside rustup (rustc-web `Conflicts: rustup`, and would put
#   /usr/bin/cargo beside rustup's). Its std source lets cargo build std for any target.
# - mingw-w64 (links Windows binaries, compiles build scripts' C), Wine (runs Windows tests),
#   and a shim DLL Wine 8 lacks (scripts/xbuild/bcryptprimitives.c).
# - zig from PyPI's `ziglang` wheel: clang with macOS libc headers, for build scripts' C code
#   under `cargo check --target aarch64-apple-darwin` (scripts/xbuild/zigcc-aarch64-macos).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/xbuild/env.sh
source scripts/xbuild/env.sh

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_updated=0
apt_update() {
    if [ $apt_updated = 0 ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
}

# Runtime libraries of the unpacked toolchain (rustc's LLVM, cargo's libgit2: plain libraries),
# the Windows cross tools, and Wine (64-bit only: every binary here is x86_64).
packages=(libllvm22 libgit2-1.5 gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine64 unzip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-xbuild: installing ${missing[*]}"
    apt_update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$XBUILD_HOME"
# Debian's Rust: whichever rustc-web bookworm-security offers, unpacked once per version.
# Its std package's name carries the version (libstd-rust-web-1.96).
if [ ! -x "$RUST_WEB/usr/bin/cargo" ] || [ ! -x "$RUST_WEB/usr/bin/clippy-driver" ]; then
    apt_update
    version=$(apt-cache policy rustc-web | sed -n 's/^ *Candidate: *//p')
    minor=$(echo "$version" | sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p')
    if [ -z "$minor" ]; then
        echo "setup-xbuild: apt offers no rustc-web (is bookworm-security in the sources?)" >&2
        exit 2
    fi
    dir=$XBUILD_HOME/rust-web-$version
    echo "setup-xbuild: unpacking Debian's rustc-web $version into $dir"
    rm -rf "$dir" "$XBUILD_HOME/debs"
    mkdir -p "$dir" "$XBUILD_HOME/debs"
    (cd "$XBUILD_HOME/debs" && apt-get download -qq -o APT::Sandbox::User=root "rustc-web=$version" "cargo-web=$version" \
        "libstd-rust-web-$minor=$version" "libstd-rust-web-dev=$version" \
        "rust-web-src=$version" "rust-web-clippy=$version")
    for deb in "$XBUILD_HOME"/debs/*.deb; do dpkg-deb -x "$deb" "$dir"; done
    rm -rf "$XBUILD_HOME/debs"
    ln -sfn "$dir" "$RUST_WEB"
fi
# The workspace's rust-version is a floor for this toolchain too.
needed=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
have=$(LD_LIBRARY_PATH=$RUST_WEB/usr/lib/x86_64-linux-gnu "$RUST_WEB/usr/bin/rustc" --version | cut -d' ' -f2)
if [ "$(printf '%s\n%s\n' "$needed" "$have" | sort -V | head -1)" != "$needed" ]; then
    echo "setup-xbuild: Debian's rustc-web is $have, below the workspace's rust-version $needed" >&2
    exit 2
fi

# zig (PyPI wheel, unzipped: nothing is pip-installed).
if [ ! -x "$ZIG_HOME/ziglang/zig" ]; then
    echo "setup-xbuild: unpacking zig $ZIG_VERSION (PyPI ziglang) into $ZIG_HOME"
    rm -rf "$ZIG_HOME" "$XBUILD_HOME/wheels"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_12_x86_64 \
        -d "$XBUILD_HOME/wheels" "ziglang==$ZIG_VERSION"
    mkdir -p "$ZIG_HOME"
    unzip -q "$XBUILD_HOME"/wheels/ziglang-*.whl 'ziglang/*' -d "$ZIG_HOME"
    chmod +x "$ZIG_HOME/ziglang/zig"
    rm -rf "$XBUILD_HOME/wheels"
fi

# The Wine prefix, with the bcryptprimitives.dll shim in its system32.
shim=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$shim" ] || [ scripts/xbuild/bcryptprimitives.c -nt "$shim" ]; then
    echo "setup-xbuild: Wine prefix at $WINEPREFIX, with the bcryptprimitives.dll shim"
    if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
        WINEDEBUG=-all /usr/lib/wine/wine64 wineboot -i >/dev/null 2>&1 || true
        # wineboot returns before its server has written the prefix out.
        WINEDEBUG=-all /usr/lib/wine/wineserver -w || true
    fi
    x86_64-w64-mingw32-gcc -O2 -shared -o "$shim" scripts/xbuild/bcryptprimitives.c -lbcrypt
fi
