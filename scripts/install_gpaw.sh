#!/usr/bin/env bash
# Install GPAW (serial, libxc + OpenBLAS) and its PAW setups into the project venv,
# then generate the missing Tc PBE setup with GPAW's own generator.
# Idempotent: every step is skipped when its result is already there.
#
# Usage: scripts/install_gpaw.sh [path/to/venv]   (default: .venv)
# Needs Debian packages libxc-dev and libopenblas-dev (plus a C/C++ compiler).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
PY="$VENV/bin/python"
GPAW_VERSION="26.7.0"
GPAW_DATA_VERSION="1.2.1"
SETUP_DIR="$ROOT/analysis/data/gpaw_setups"

if "$PY" -c "import gpaw, gpaw.cgpaw" >/dev/null 2>&1; then
    echo "gpaw already installed: $("$PY" -c 'import gpaw; print(gpaw.__version__)')"
else
    export GPAW_CONFIG="$ROOT/scripts/gpaw_siteconfig.py"
    echo "building gpaw==$GPAW_VERSION with GPAW_CONFIG=$GPAW_CONFIG"
    "$VENV/bin/pip" install --no-cache-dir "gpaw==$GPAW_VERSION" "gpaw-data==$GPAW_DATA_VERSION"
fi

# Tc is the one Metal-43 element without a PBE setup in gpaw-data: generate it.
# The file is small and committed under analysis/data/gpaw_setups, so this normally skips.
if ls "$SETUP_DIR"/Tc.PBE* >/dev/null 2>&1; then
    echo "Tc PBE setup present in $SETUP_DIR"
else
    mkdir -p "$SETUP_DIR"
    # GPAW's generator2 parameter set 'Tc15': 15 valence electrons (4s 4p semicore, 5s, 4d),
    # rc 2.3 Bohr, scalar-relativistic; semicore like gpaw-data's Mo (14 e) and Ru (16 e)
    # and like the source's Tc_pv POTCAR.
    (cd "$SETUP_DIR" && "$VENV/bin/gpaw" dataset Tc -f PBE -e 15 -w && gzip -9n Tc.PBE)
fi

# Smoke test: a PBE Al primitive-cell single point must run (a few seconds).
GPAW_SETUP_PATH="$SETUP_DIR${GPAW_SETUP_PATH:+:$GPAW_SETUP_PATH}" "$PY" - <<'PY'
from ase.build import bulk
from gpaw import GPAW, PW
atoms = bulk("Al", "fcc", a=4.04)
atoms.calc = GPAW(mode=PW(250), xc="PBE", kpts=(4, 4, 4), txt=None)
print(f"gpaw smoke test: Al fcc PBE energy {atoms.get_potential_energy():.4f} eV")
from gpaw.setup_data import search_for_file
print("Tc setup:", search_for_file("Tc.PBE")[0])
PY
