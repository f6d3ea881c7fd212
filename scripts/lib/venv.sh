# Shared by the scripts that make the project's Python venvs (pyenv.sh,
# python-env.sh): finding CPython 3.11 and holding a venv's install lock.
# Source it; it defines functions only.

# Prints the name of a CPython 3.11 interpreter on PATH, or fails.
find_python311() {
    if command -v python3.11 >/dev/null 2>&1 && python3.11 -c '' >/dev/null 2>&1; then
        echo python3.11
    elif command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; then
        echo python3
    else
        return 1
    fi
}

# Takes the exclusive install lock of venv directory $1 on fd 9 (waiting
# for other callers). The lock file lives inside the venv directory
# (gitignored) and is never removed, so every caller locks the same inode.
lock_venv() {
    mkdir -p "$1" && exec 9>"$1/.lock" && flock 9
}

# Makes $1 a Python 3.11 venv made by interpreter $2: a venv left by an
# older or different interpreter is rebuilt from scratch (everything but
# the lock file).
make_venv311() {
    local venv="$1" base="$2" py="$1/bin/python"
    if [[ -x "$py" ]] && ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; then
        echo "rebuilding $venv (not a Python 3.11 venv)" >&2
        find "$venv" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} + || return 1
    fi
    if [[ ! -x "$py" ]]; then
        echo "creating $venv with $base" >&2
        "$base" -m venv "$venv" >&2 || return 1
    fi
}
