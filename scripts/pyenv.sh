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

# shellcheck source=lib/venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"

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

exit_if_installed_else_lock "$venv" "$marker" "$want"

base="$(find_python311)" ||
    die "Python 3.11 is needed (pyarrow 11 has wheels up to 3.11): neither python3.11 nor a 3.11 python3 was found"
make_venv311 "$venv" "$base" || die "cannot make the venv $venv with $base (is the venv/ensurepip module installed?)"

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

venv_mark "$marker" "$want" || die "cannot write $marker"
echo "$py"
