#!/usr/bin/env bash
# The notebook series on a GPU machine through papermill: the smoke profile end to end, then as
# much of the mini profile as the time left allows (each notebook timed by the series' own log).
# Usage, from the repository root: bash benchmarks/gpu_series.sh OUT_DIR SMOKE_SECONDS MINI_SECONDS [RUNS_PER_GPU]
# Python packages the machine lacks may be given as wheels in .whl/ (installed to /tmp/site).
set -uo pipefail
out=${1:?output folder}; smoke_seconds=${2:-300}; mini_seconds=${3:-300}; per_gpu=${4:-4}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc;
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'; } > "$out/machine.txt" 2>&1
series() {  # profile, runs folder, extra options
    local profile=$1 runs=$2; shift 2
    python3 -m paperlib.cli reproduce --profile "$profile" --device cuda --runs "$runs" \
        --results "/tmp/gpu-$profile-results" --data-root "/tmp/gpu-$profile-data" "$@"
}
start=$(date +%s)
timeout "$smoke_seconds" bash -c "$(declare -f series); series smoke /tmp/gpu-runs" > "$out/smoke.log" 2>&1; echo "smoke exit $? after $(( $(date +%s) - start )) s" >> "$out/smoke.log"
start=$(date +%s)
timeout "$mini_seconds" bash -c "$(declare -f series); series mini /tmp/gpu-runs --runs-per-gpu $per_gpu" \
    > "$out/mini.log" 2>&1
echo "mini exit $? after $(( $(date +%s) - start )) s (runs per GPU: $per_gpu)" >> "$out/mini.log"
cp /tmp/gpu-runs/smoke/series_log.json "$out/smoke_series_log.json" 2>/dev/null
cp /tmp/gpu-runs/mini/series_log.json "$out/mini_series_log.json" 2>/dev/null
tar czf "$out/executed.tar.gz" -C /tmp/gpu-runs . 2>/dev/null
exit 0
