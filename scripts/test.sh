#!/usr/bin/env bash
# The whole test suite, as CI runs it (`make test`, `.ci/run`):
#   services (PostgreSQL, Redis) -> chromium -> venvs -> ruff check -> ruff format --check -> mypy
#   -> mkdocs build --strict -> pytest on Python 3.12/Django 6.1 -> pytest on Python 3.11/Django 5.2
# Every check runs even after one fails, so one run shows everything; the exit status is non-zero
# if any failed. Extra arguments go to both pytest runs (e.g. `scripts/test.sh -k redis -x`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive
# Playwright drives Debian's /usr/bin/chromium; it must never try to fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# mkdocs-material prints an end-of-life banner on every build; it is noise in CI logs.
export NO_MKDOCS_2_WARNING=1
IN_CI=false
case "${CI:-}" in 1 | true | TRUE | True | yes) IN_CI=true ;; esac

PY312=.venvs/py312-dj61/bin
PY311=.venvs/py311-dj52/bin
LOGDIR=$(mktemp -d)
trap 'rm -rf "$LOGDIR"' EXIT
START=$SECONDS
RESULTS=()
FAILED=0

header() { printf '\n==================== %s ====================\n' "$*"; }
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# run_step NAME COMMAND...: runs a check, records ok/FAIL and its time, never stops the script.
run_step() {
    local name=$1 t0=$SECONDS rc=0
    shift
    header "$name"
    "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        RESULTS+=("ok    $name ($(elapsed $((SECONDS - t0))))")
    else
        RESULTS+=("FAIL  $name (exit $rc, $(elapsed $((SECONDS - t0))))")
        FAILED=1
    fi
    return 0
}

# A step the rest depends on: stop at once if it fails.
must() {
    local name=$1 t0=$SECONDS
    shift
    header "$name"
    if ! "$@"; then
        printf '\ntest.sh: "%s" failed; nothing else can run. Total time %s\n' \
            "$name" "$(elapsed $((SECONDS - START)))" >&2
        exit 1
    fi
    RESULTS+=("ok    $name ($(elapsed $((SECONDS - t0))))")
}

ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then
        /usr/bin/chromium --version 2>/dev/null || echo "chromium: /usr/bin/chromium"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "chromium is missing and this is not root: install Debian's chromium package"
        # Outside CI the browser tests skip themselves; in CI they must run.
        [ "$IN_CI" = false ]
        return
    fi
    echo "installing Debian's chromium"
    apt-get update -qq || return
    apt-get install -y -qq --no-install-recommends chromium >/dev/null || return
    /usr/bin/chromium --version
}

# pytest exits 5 when it collects nothing; any non-zero status fails the step.
run_pytest() {
    local bin=$1 log=$2
    shift 2
    "$bin/python" --version
    "$bin/python" -c 'import django; print("Django", django.get_version())'
    local rc=0
    "$bin/python" -m pytest -p no:cacheprovider "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
    [ "$rc" -ne 5 ] || echo "pytest collected no tests (exit 5): counted as a failure"
    return "$rc"
}

mkdocs_build() {
    if [ ! -f mkdocs.yml ]; then
        echo "no mkdocs.yml yet: skipped"
        return 0
    fi
    # errexit does not apply inside run_step's `||`, so every failure returns explicitly.
    "$PY312/mkdocs" build --strict --quiet --site-dir "$LOGDIR/site" || return
    echo "docs built"
}

must "services: PostgreSQL and Redis" bash scripts/services.sh
must "chromium" ensure_chromium
must "venvs" bash scripts/venvs.sh py312-dj61 py311-dj52

# .venvs is excluded here too, so a checkout without .gitignore never lints the venvs.
run_step "ruff check" "$PY312/ruff" check --extend-exclude .venvs .
run_step "ruff format --check" "$PY312/ruff" format --check --extend-exclude .venvs .
run_step "mypy" "$PY312/mypy"
run_step "mkdocs build --strict" mkdocs_build
run_step "pytest: Python 3.12 + Django 6.1" run_pytest "$PY312" "$LOGDIR/py312.log" "$@"
run_step "pytest: Python 3.11 + Django 5.2" run_pytest "$PY311" "$LOGDIR/py311.log" "$@"

header "summary"
printf '%s\n' "${RESULTS[@]}"
echo "total time: $(elapsed $((SECONDS - START)))"
if [ "$FAILED" -ne 0 ]; then
    echo "RESULT: FAILED"
else
    echo "RESULT: all checks passed"
fi
# End with each run's closing pytest line (3.12/Django 6.1, then 3.11/Django 5.2).
for run in py312 py311; do
    grep -E '^=+ .*( in [0-9.]+s).* =+$' "$LOGDIR/$run.log" 2>/dev/null | tail -n 1 || true
done
exit "$FAILED"
