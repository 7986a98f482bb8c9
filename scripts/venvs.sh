#!/usr/bin/env bash
# Create or update the pinned test venvs under .venvs/:
#   py312-dj61  Python 3.12 + Django 6.1  (requirements/py312-dj61.txt)
#   py311-dj52  Python 3.11 + Django 5.2  (requirements/py311-dj52.txt)
# Usage: scripts/venvs.sh [py312-dj61|py311-dj52]...   (no argument: both)
# A venv is reinstalled only when its requirements file or pyproject.toml changed since the last
# successful install (a hash is kept in the venv), so reruns take a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1

die() { printf 'venvs: ERROR: %s\n' "$*" >&2; exit 1; }

# Runs the interpreter for a minor version: pyenv's first (the machines have 3.11 default and
# 3.12.1 beside it), then whatever pythonX.Y is on PATH.
python_for() {
    local want=$1 candidate
    local check="import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))"
    if [ "$want" = "3.12" ] && command -v pyenv >/dev/null \
        && PYENV_VERSION=3.12.1 python -c "$check" 2>/dev/null; then
        echo "env PYENV_VERSION=3.12.1 python"
        return
    fi
    for candidate in python3 "python$want"; do
        if command -v "$candidate" >/dev/null && "$candidate" -c "$check" 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    die "no Python $want found (tried pyenv 3.12.1, python3, python$want)"
}

req_hash() {
    cat "requirements/$1.txt" pyproject.toml | sha256sum | cut -d' ' -f1
}

# Keep pip's output readable: the local index mirror warns about a missing directory per package.
quiet_pip_log() {
    grep -v -e 'is ignored: it is neither a file nor a directory' -e '/opt/pypi-more' "$1" || true
}

ensure_venv() {
    local name=$1 minor=$2
    local venv=".venvs/$name" stamp=".venvs/$name/.requirements.sha256"
    local want have python log
    want=$(req_hash "$name")
    have=$(cat "$stamp" 2>/dev/null || true)
    if [ -x "$venv/bin/python" ] && [ "$want" = "$have" ] \
        && "$venv/bin/python" -c 'import thumbkit, django, pytest' 2>/dev/null; then
        echo "venvs: $name is up to date"
        return
    fi
    python=$(python_for "$minor")
    if [ ! -x "$venv/bin/python" ]; then
        echo "venvs: creating $venv with $($python --version)"
        $python -m venv "$venv"
    fi
    echo "venvs: installing requirements/$name.txt into $venv"
    log=$(mktemp)
    if ! "$venv/bin/python" -m pip install -r "requirements/$name.txt" >"$log" 2>&1; then
        quiet_pip_log "$log"
        rm -f "$log"
        die "pip install failed for $name"
    fi
    quiet_pip_log "$log" | tail -n 3
    rm -f "$log"
    echo "$want" >"$stamp"
}

mkdir -p .venvs
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(py312-dj61 py311-dj52)
for target in "${targets[@]}"; do
    case "$target" in
        py312-dj61) ensure_venv py312-dj61 3.12 ;;
        py311-dj52) ensure_venv py311-dj52 3.11 ;;
        *) die "unknown venv '$target' (py312-dj61 or py311-dj52)" ;;
    esac
done
