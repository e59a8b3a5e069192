# Sourced by scripts/env.sh (and by tests/setup_scripts.rs): how each build prerequisite is
# detected, by what actually uses it. Pure functions of the file system and PATH; they install
# nothing.

# bindgen (in lightgbm3-sys) loads libclang at run time through clang-sys, which looks in
# $LIBCLANG_PATH if set, else in `llvm-config --prefix`/lib* and these directory patterns, for
# files named libclang.so, libclang-<N>.so, libclang.so.<N> or libclang-<N>.so.<N>, skipping
# libclang-cpp.* (the C++ interface library, which bindgen cannot use and which some machine
# images ship without libclang). This mirrors clang-sys 1.9 build/common.rs and build/dynamic.rs.
# $1 (optional): a root prepended to every searched directory (tests use fake layouts).
periop_libclang_path() {
  local root="${1:-}" dir file base
  local -a dirs=()
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    dirs=("$root$LIBCLANG_PATH")
  else
    if [ -z "$root" ] && command -v llvm-config >/dev/null 2>&1; then
      local prefix
      prefix="$(llvm-config --prefix 2>/dev/null || true)"
      [ -n "$prefix" ] && dirs+=("$prefix/lib" "$prefix/lib64")
    fi
    local pattern
    for pattern in '/usr/local/llvm*/lib*' '/usr/local/lib*/*/*' '/usr/local/lib*/*' \
      '/usr/local/lib*' '/usr/lib*/*/*' '/usr/lib*/*' '/usr/lib*'; do
      for dir in $root$pattern; do
        [ -d "$dir" ] && dirs+=("$dir")
      done
    done
  fi
  for dir in "${dirs[@]}"; do
    for file in "$dir"/libclang.so "$dir"/libclang-*.so "$dir"/libclang.so.* "$dir"/libclang-*.so.*; do
      [ -e "$file" ] || continue
      base="${file##*/}"
      case "$base" in *-cpp.*) continue ;; esac
      printf '%s\n' "$file"
      return 0
    done
  done
  return 1
}

# LightGBM's CMakeLists needs cmake >= 3.28 (Debian 12 ships 3.25).
periop_cmake_ok() {
  command -v cmake >/dev/null 2>&1 || return 1
  local v
  v="$(cmake --version 2>/dev/null | head -n1 | awk '{print $3}')"
  [ -n "$v" ] || return 1
  [ "$(printf '%s\n%s\n' 3.28 "$v" | sort -V | head -n1)" = "3.28" ]
}

# The C++ compiler that cmake uses for LightGBM (and cc-rs for zen-engine's C dependencies).
periop_cxx_ok() {
  command -v "${CXX:-g++}" >/dev/null 2>&1
}

# The PostgreSQL server programs the tests start throwaway clusters with (tests/support/postgres.rs
# looks in the same places): a directory /usr/lib/postgresql/<N>/bin (Debian's postgresql-<N>)
# holding initdb, pg_ctl and postgres, the newest N first. psql alone (the client package, which
# machine images ship) does not count. $1 (optional): a root prepended to the searched directory.
periop_postgres_bin() {
  local root="${1:-}" dir
  for dir in $(printf '%s\n' "$root"/usr/lib/postgresql/*/bin | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      printf '%s\n' "$dir"
      return 0
    fi
  done
  return 1
}
