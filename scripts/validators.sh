#!/usr/bin/env bash
# The venv of the independent FHIR R4 / CDS Hooks validator (scripts/validate_fhir.py): created
# from PyPI with the pinned scripts/requirements-validators.txt when missing, at
# ${VALIDATORS_VENV:-$HOME/.cache/periop/validators-<first 12 hex of the file's SHA-256>}.
# Prints the venv's python; use it as FHIR_VALIDATOR_PYTHON (tests/fhir_validation.rs).
# On a fresh Debian machine without python3-venv (`python3 -m venv` fails: no ensurepip), it is
# installed from Debian first.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS="$PWD/scripts/requirements-validators.txt"
HASH="$(sha256sum "$REQUIREMENTS" | cut -c1-12)"
VENV="${VALIDATORS_VENV:-$HOME/.cache/periop/validators-$HASH}"

periop_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Whether `python3 -m venv` works here, tried in a scratch directory (Debian's python3 has the
# venv module but no ensurepip until python3-venv is installed).
venv_works() {
  local scratch
  scratch="$(mktemp -d)"
  if python3 -m venv "$scratch/venv" >/dev/null 2>&1; then rm -rf "$scratch"; return 0; fi
  rm -rf "$scratch"
  return 1
}

if ! "$VENV/bin/python" -c 'import fhir.resources, fhirpathpy' >/dev/null 2>&1; then
  if ! venv_works; then
    version="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    echo "setup: installing python3-venv from Debian (python3 -m venv does not work)" >&2
    periop_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive periop_sudo apt-get install -y -qq python3-venv \
      || DEBIAN_FRONTEND=noninteractive periop_sudo apt-get install -y -qq "python$version-venv"
    venv_works || { echo "setup: python3 -m venv still does not work" >&2; exit 1; }
  fi
  if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
    echo "setup: $VENV exists and is not a venv; not touching it (set VALIDATORS_VENV elsewhere)" >&2
    exit 1
  fi
  echo "setup: installing the FHIR validators from PyPI into $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  "$VENV/bin/python" -c 'import fhir.resources, fhirpathpy' \
    || { echo "setup: the validator packages do not import in $VENV" >&2; exit 1; }
fi
printf '%s\n' "$VENV/bin/python"
