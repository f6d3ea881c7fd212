#!/usr/bin/env bash
# Creates (once) the Python 3.11 venv with the real pyarrow 11 Plasma client
# that the cross-implementation tests run against our daemon, and prints the
# venv's python on stdout as its last line.
#
#   scripts/pyenv.sh            -> <repo>/.venv-pyarrow/bin/python
#
# Idempotent and safe under concurrent callers: the install runs under an
# exclusive flock, and a marker written after a verified install makes later
# calls instant. Everything but the final path goes to stderr.
set -euo pipefail

REQUIREMENTS=("pyarrow==11.0.0" "numpy<2" "pandas<2.2" "pytest" "hypothesis")

die() {
    echo "pyenv.sh: error: $*" >&2
    exit 1
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-pyarrow"
py="$venv/bin/python"
marker="$venv/.pyenv-ok"
# The marker records what was installed, so changing the list reinstalls.
want="${REQUIREMENTS[*]}"

installed() {
    [[ -x "$py" && -f "$marker" && "$(cat "$marker")" == "$want" ]]
}

if installed; then
    echo "$py"
    exit 0
fi

command -v flock >/dev/null 2>&1 || die "flock(1) is needed (util-linux)"

# The lock lives inside the venv directory (gitignored); it is never removed,
# so every caller locks the same inode.
mkdir -p "$venv" || die "cannot create $venv"
exec 9>"$venv/.lock" || die "cannot open $venv/.lock"
flock 9 || die "cannot lock $venv/.lock"

# Another caller may have finished while we waited for the lock.
if installed; then
    echo "$py"
    exit 0
fi

base=""
if command -v python3.11 >/dev/null 2>&1 && python3.11 -c '' >/dev/null 2>&1; then
    base="python3.11"
elif command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; then
    base="python3"
else
    die "Python 3.11 is needed (pyarrow 11 has wheels up to 3.11): neither python3.11 nor a 3.11 python3 was found"
fi

# A venv left by an older or different interpreter is rebuilt from scratch
# (everything but the lock file).
if [[ -x "$py" ]] && ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; then
    echo "pyenv.sh: rebuilding $venv (not a Python 3.11 venv)" >&2
    find "$venv" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} + ||
        die "cannot clean $venv"
fi

if [[ ! -x "$py" ]]; then
    echo "pyenv.sh: creating $venv with $base" >&2
    "$base" -m venv "$venv" >&2 || die "'$base -m venv $venv' failed (is the venv/ensurepip module installed?)"
fi

echo "pyenv.sh: installing ${want}" >&2
"$py" -m pip install --disable-pip-version-check --no-input -q "${REQUIREMENTS[@]}" >&2 ||
    die "pip install ${want} failed (see the pip output above)"

"$py" - >&2 <<'EOF' || die "the venv at $venv does not provide pyarrow 11's plasma client"
import os, sys
import pyarrow
import pyarrow.plasma
if pyarrow.__version__ != "11.0.0":
    sys.exit("pyarrow %s installed, 11.0.0 expected" % pyarrow.__version__)
here = os.path.dirname(pyarrow.__file__)
for need in ("libplasma.so.1100", "include/plasma/client.h", "tests/test_plasma.py"):
    if not os.path.exists(os.path.join(here, need)):
        sys.exit("pyarrow wheel lacks %s" % need)
EOF

tmp="$marker.tmp.$$"
printf '%s' "$want" >"$tmp" && mv -f "$tmp" "$marker" || die "cannot write $marker"
echo "$py"
