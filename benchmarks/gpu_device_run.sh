#!/usr/bin/env bash
# The gpu profile on a lent GPU machine, in one call of the device tool (see
# /work/.library/device/README.md): that machine has torch but no diffusers and no network, so the
# wheels travel in `.whl/` (ignored through .git/info/exclude). Prepare them here once:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#     diffusers==0.42.1 importlib_metadata
#
# then run, with carry [".whl"] and a timeout that leaves time for a rerun:
#
#   bash benchmarks/gpu_device_run.sh
#
# It runs benchmarks/gpu_profile.py (the cold pipeline of every producer, then ms per training
# step and the kernel share per model) under a time limit, and keeps the manifest, the pipeline
# log and the benchmark's output in $OUT, copied every 20 s so that a timeout still returns them.
# Notebooks need nbclient and ipykernel, which that machine lacks: carry their wheels (and their
# own dependencies) too to include them; without nbclient the benchmark runs every producer only.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
LIMIT=${LIMIT:-500}
mkdir -p "$OUT"

if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$OUT/gpu.txt" 2>&1

work=/tmp/gpu-profile
rm -rf "$work"
( while sleep 20; do
    cp "$work/generated/manifest.json" "$work/pipeline.log" "$OUT/" 2>/dev/null
  done ) &
copier=$!

timeout "$LIMIT" python3 benchmarks/gpu_profile.py --device cuda --out "$work" 2>&1 | tee "$OUT/gpu_profile.txt"
status=${PIPESTATUS[0]}
kill "$copier" 2>/dev/null
cp "$work/generated/manifest.json" "$work/pipeline.log" "$OUT/" 2>/dev/null
echo "gpu_profile.py exit status $status" | tee -a "$OUT/gpu_profile.txt"
exit "$status"
