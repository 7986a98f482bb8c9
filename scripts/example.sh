#!/usr/bin/env bash
# Run the example site on the embedded default (SQLite, file storage, Pillow).
# Works on a fresh clone: makes .venvs/example (python3) with thumbkit installed editable,
# migrates, adds the sample photos, and serves on 127.0.0.1:${PORT:-8000}.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venvs/example"
PYTHON="${PYTHON:-python3}"
PORT="${PORT:-8000}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi
# Re-run each time so a changed pyproject.toml is picked up; a no-op when up to date.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT"

cd "$ROOT/example"
"$VENV/bin/python" manage.py migrate --verbosity 0
"$VENV/bin/python" manage.py make_sample_photos
echo "Open http://127.0.0.1:$PORT/"
exec "$VENV/bin/python" manage.py runserver "127.0.0.1:$PORT"
