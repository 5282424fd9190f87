# Sourced by scripts/sevenn_env.sh and scripts/deepmd_env.sh: make the venv $VENV with $PYTHON and
# define `installed NAME==VERSION` (exit 0 when exactly that version is present in $VENV).
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "$(basename "$0"): $PYTHON not found; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

installed() {
    "$VENV/bin/python" - "$1" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
name, want = sys.argv[1].split("==")
try:
    have = version(name)
except PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if have.split("+")[0] == want else 1)
PY
}

# `install_lock FILE`: install into $VENV every package of the lock FILE (pip freeze output: all pinned),
# each package without its dependencies (the lock lists them all), then `pip check`. Skipped when
# $VENV/.lock.sha256 says this very file was installed last; RESOLVE=1 (the pins resolved by pip,
# for `make lock`) skips it too.
install_lock() {
    local lock="$1" stamp="$VENV/.lock.sha256" sum
    [ "${RESOLVE:-0}" = 1 ] && return 0
    sum="$(sha256sum "$lock" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
        return 0
    fi
    "$VENV/bin/python" -m pip install --quiet --no-deps -r "$lock"
    "$VENV/bin/python" -m pip check
    echo "$sum" > "$stamp"
}
