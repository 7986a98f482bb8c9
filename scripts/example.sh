#!/usr/bin/env bash
# Run the example site on the embedded default (SQLite, file storage, Pillow).
# Works on a fresh clone: makes .venvs/example (python3) with thumbkit installed editable,
# migrates, seeds 100 profiles, 8 photos and an admin account, and serves on
# 127.0.0.1:${PORT:-8000} (`make example PORT=8001` picks another port).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venvs/example"
PYTHON="${PYTHON:-python3}"
PORT="${PORT:-8000}"

# Before anything slow: a busy port would otherwise end in runserver's traceback.
port_is_free() {
    "$PYTHON" - "$1" <<'PY'
import socket, sys
with socket.socket() as sock:
    try:
        sock.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
}
if ! port_is_free "$PORT"; then
    echo "port $PORT is busy; run \`make example PORT=$((PORT + 1))\`" >&2
    exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi
# Re-run each time so a changed pyproject.toml is picked up; a no-op when up to date.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT"

cd "$ROOT/example"
"$VENV/bin/python" manage.py migrate --verbosity 0
echo "Seeding the example (the first run draws the photos and makes their thumbnails)..."
"$VENV/bin/python" manage.py seed_example
ADMIN=$("$VENV/bin/python" -c 'from exampleproject.settings import EXAMPLE_ADMIN; print(*EXAMPLE_ADMIN)')
cat <<MSG

  thumbkit example site: http://127.0.0.1:$PORT/
    /            the profile directory (100 profiles, one store read)
    /gallery/    <picture> with AVIF, WebP and JPEG
    /upload/     uploads under THUMBKIT["LIMITS"]
    /admin/      user ${ADMIN% *}, password ${ADMIN#* }

MSG
exec "$VENV/bin/python" manage.py runserver "127.0.0.1:$PORT"
