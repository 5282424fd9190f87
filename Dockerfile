# MLFF Error Atlas: the dashboard (gunicorn, 0.0.0.0:8050) plus one job worker.
# Build: docker build -t mlff-atlas .
# It binds 0.0.0.0, so it starts only protected (see README "Serving beyond this machine"):
#   docker run -p 8050:8050 -v atlas-data:/data -v "$PWD/atlas-users:/run/secrets/atlas-users:ro" \
#       -e MLFF_ATLAS_AUTH_FILE=/run/secrets/atlas-users mlff-atlas     (user:password lines: HTTP basic auth)
#   docker run -p 8050:8050 -v atlas-data:/data -e MLFF_ATLAS_READ_ONLY=1 mlff-atlas   (read-only showcase)
FROM python:3.11-slim-bookworm

# torch 2.13.0 from PyTorch's CPU index (PyPI's Linux wheel is the multi-GB CUDA build)
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu \
    MLFF_ATLAS_DATA=/data \
    MLFF_ATLAS_HOST=0.0.0.0 \
    MLFF_ATLAS_PORT=8050

# g++ + libxc + OpenBLAS build GPAW from source; chromium lets kaleido export figures.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential g++ libxc-dev libopenblas-dev chromium \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# the same locked environments as `make install`, into the same venv paths the scripts use
COPY requirements.txt requirements.lock requirements-sevenn.lock requirements-deepmd.lock ./
RUN python -m venv /app/.venv \
 && /app/.venv/bin/pip install --no-deps -r requirements.lock \
 && /app/.venv/bin/pip check
COPY scripts/ scripts/
COPY analysis/data/gpaw_setups/ analysis/data/gpaw_setups/
RUN bash scripts/install_gpaw.sh /app/.venv
# SevenNet and deepmd-kit in their own venvs (see the scripts for why), where the code looks for them
RUN PYTHON=python3.11 bash scripts/sevenn_env.sh /app/.venv-sevenn \
 && PYTHON=python3.11 bash scripts/deepmd_env.sh /app/.venv-deepmd

COPY . .
RUN useradd --create-home atlas && mkdir -p /data && chown -R atlas /data
USER atlas
VOLUME ["/data"]
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/healthz', timeout=4)"
CMD ["bash", "scripts/docker-entrypoint.sh"]
