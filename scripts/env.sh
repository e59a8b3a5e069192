# Sourced by the other scripts: installs what a fresh machine needs to build periop and sets up
# the environment. Idempotent: does nothing when everything is already there.
#   - cmake >= 3.28 (LightGBM's build; Debian's cmake is too old): the `cmake` package from PyPI
#   - libclang (bindgen in lightgbm3-sys): Debian's libclang-dev
#   - a C++ compiler: Debian's g++
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/prereqs.sh"

periop_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# pip's script directories come first so a PyPI cmake wins over an old system one.
PY_SCRIPTS="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
export PATH="${PY_SCRIPTS:+$PY_SCRIPTS:}$HOME/.local/bin:$HOME/.cargo/bin:$PATH"

if ! periop_cmake_ok; then
  echo "setup: installing cmake >= 3.28 from PyPI" >&2
  python3 -m pip install --quiet 'cmake>=3.28' || python3 -m pip install --quiet --user 'cmake>=3.28'
  hash -r
  periop_cmake_ok || { echo "setup: cmake >= 3.28 still not on PATH" >&2; exit 1; }
fi

apt_missing=()
periop_libclang_path >/dev/null || apt_missing+=(libclang-dev)
periop_cxx_ok || apt_missing+=(g++)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  echo "setup: installing ${apt_missing[*]} from Debian" >&2
  periop_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive periop_sudo apt-get install -y -qq "${apt_missing[@]}"
  periop_libclang_path >/dev/null || { echo "setup: libclang (libclang.so or libclang-<N>.so) still not found" >&2; exit 1; }
  periop_cxx_ok || { echo "setup: a C++ compiler (g++) still not on PATH" >&2; exit 1; }
fi

# One target directory outside the clone keeps LightGBM's C++ build between runs; everything
# (build, clippy, tests, benches) uses the release profile so LightGBM is compiled once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/periop/target}"
mkdir -p "$CARGO_TARGET_DIR"
export BIN_PERIOP="$CARGO_TARGET_DIR/release/periop"
