"""GPAW build configuration for MLFF Error Atlas (read by GPAW's setup.py via GPAW_CONFIG).

Serial build (no MPI: every DFT job is one process on one core), linked against
Debian's libxc (libxc-dev) and OpenBLAS (libopenblas-dev). No FFTW/ScaLAPACK:
GPAW falls back to numpy's FFT, which is fine for the small cells used here.
"""

# flake8: noqa
mpi = False
# GPAW 26.x compiles its C sources as C++; Python's configured CC (gcc) would
# treat them as C and fail on <algorithm>, so name the C++ compiler explicitly.
compiler = 'g++'
fftw = False
scalapack = False
libraries = ['xc', 'openblas']
