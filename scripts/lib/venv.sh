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

# Whether the venv $1 is installed as recorded: its python runs and the
# marker file $2 holds exactly $3 (what was installed).
venv_installed() {
    [[ -x "$1/bin/python" && -f "$2" && "$(cat "$2")" == "$3" ]]
}

# Ends the calling script, printing the venv's python, if venv $1 is
# installed as marker $2 says ($3); otherwise takes the install lock
# (waiting for other callers, which may finish the install meanwhile, so
# it checks again) and returns, the lock held on fd 9.
exit_if_installed_else_lock() {
    if venv_installed "$1" "$2" "$3"; then
        echo "$1/bin/python"
        exit 0
    fi
    command -v flock >/dev/null 2>&1 || { echo "flock(1) is needed (util-linux)" >&2; exit 1; }
    lock_venv "$1" || { echo "cannot lock $1/.lock" >&2; exit 1; }
    if venv_installed "$1" "$2" "$3"; then
        echo "$1/bin/python"
        exit 0
    fi
}

# Records in marker $1 that $2 was installed (atomically).
venv_mark() {
    local tmp="$1.tmp.$$"
    printf '%s' "$2" >"$tmp" && mv -f "$tmp" "$1"
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
