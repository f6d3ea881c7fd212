#!/usr/bin/env bash
# Creates (or refreshes, when the package's sources changed) the venv in
# which the Python package's own tests run, and prints the venv's python on
# stdout as its last line.
#
#   scripts/python-env.sh       -> <repo>/.venv-python/bin/python
#
# It builds the wheel of ./python exactly as `pip install ./python` does (an
# isolated PEP 517 build: maturin comes from PyPI), installs it with
# pytest, uvloop and numpy, and also unpacks it into
# .venv-python/for-pyarrow/, a directory to put on PYTHONPATH in the
# pyarrow 11 venv (scripts/pyenv.sh) so that pyarrow's own test_plasma.py
# and the benchmarks can import plasma_store there (the wheel is abi3, any
# CPython >= 3.11 loads it).
#
# Idempotent and safe under concurrent callers: the work runs under an
# exclusive flock, and a marker naming the requirements and a hash of every
# source the wheel is built from makes later calls instant until a source
# changes. The crate builds in target/python/ (its own cargo target
# directory). Everything but the final path goes to stderr.
set -euo pipefail

REQUIREMENTS=("pytest" "uvloop" "numpy")

# shellcheck source=lib/venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"

die() {
    echo "python-env.sh: error: $*" >&2
    exit 1
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-python"
py="$venv/bin/python"
marker="$venv/.python-env-ok"

# Every file the wheel is built from (the extension embeds the client,
# the protocol and the daemon).
sources_hash() {
    (
        cd "$repo"
        find Cargo.toml Cargo.lock python/Cargo.toml python/pyproject.toml python/README.md \
            python/src python/plasma_store protocol client store \
            -type f ! -path '*/__pycache__/*' ! -name '*.so' ! -name '*.pyc' -print0 |
            sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
    )
}

want="${REQUIREMENTS[*]} $(sources_hash)"

exit_if_installed_else_lock "$venv" "$marker" "$want"

base="$(find_python311)" ||
    die "Python 3.11 is needed: neither python3.11 nor a 3.11 python3 was found"
make_venv311 "$venv" "$base" || die "cannot make the venv $venv with $base (is the venv/ensurepip module installed?)"

pip=("$py" -m pip --disable-pip-version-check --no-input)

echo "python-env.sh: installing ${REQUIREMENTS[*]}" >&2
"${pip[@]}" install -q "${REQUIREMENTS[@]}" >&2 || die "pip install ${REQUIREMENTS[*]} failed (see above)"

echo "python-env.sh: building the wheel of ./python" >&2
wheels="$venv/wheel"
rm -rf "$wheels"
CARGO_TARGET_DIR="$repo/target/python" "${pip[@]}" wheel -q --no-deps -w "$wheels" "$repo/python" >&2 ||
    die "building the wheel of ./python failed (see above)"
wheel=("$wheels"/plasma_store-*.whl)
[[ -f "${wheel[0]}" ]] || die "no wheel in $wheels"

"${pip[@]}" install -q --force-reinstall --no-deps "${wheel[0]}" >&2 || die "installing ${wheel[0]} failed"
rm -rf "$venv/for-pyarrow"
"${pip[@]}" install -q --no-deps --target "$venv/for-pyarrow" "${wheel[0]}" >&2 ||
    die "unpacking ${wheel[0]} for the pyarrow venv failed"

"$py" - >&2 <<'PY' || die "the installed package does not work"
import shutil, subprocess, sys, sysconfig, os
import plasma_store, plasma_store.async_api, numpy, uvloop, pytest
script = os.path.join(sysconfig.get_path("scripts"), "plasma-store")
out = subprocess.run([script, "--help"], capture_output=True, text=True)
if out.returncode != 0 or "-s <SOCKET>" not in out.stdout:
    sys.exit("the plasma-store console script does not run the daemon:\n" + out.stdout + out.stderr)
PY

venv_mark "$marker" "$want" || die "cannot write $marker"
echo "$py"
