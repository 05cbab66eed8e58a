#!/usr/bin/env bash
# The one script to run on a GPU machine (made for a lent H200: one GPU, a
# CUDA 13 driver, NO network, a python3 with numpy, cupy-cuda13x, torch,
# pytest, hypothesis, pillow and tqdm but no pooch). Nothing is installed
# and nothing is fetched: the machine's own python3 runs the repository
# through PYTHONPATH (minialex imports pooch only to download, and the data
# is already on disk). Six stages, each bounded by `timeout` and each run
# even when the one before failed; at most 560 s of stages in all (the T_*
# variables below), so it fits a 600 s device call:
#
#   1. setup: nvidia-smi, the interpreter, and what it can import (wheels
#      carried in ./.whl are installed offline into a temporary folder);
#   2. the GPU count as CuPy sees it;
#   3. python -m pytest -q tests/test_gpu.py tests/test_backend.py
#      tests/test_no_pooch.py tests/test_cuda_kernels_on_cpu.py;
#   4. benchmarks/train_step.py --device cuda:0 (small, half, paper and the
#      ImageNet net at batch 128; fp32 with TF32 off on both sides), then
#   5. the same with --tf32 (TF32 on both sides);
#   6. a CIFAR-10 run of the $PRESET preset (default paper) on cuda:0 for
#      $EPOCHS epochs (default 3), printing images/s and test accuracy per
#      epoch (skipped if there is no data).
#
# Usage, in the repository root:
#   bash scripts/gpu_check.sh [CIFAR10_DIR]
# CIFAR10_DIR defaults to the first of shared/data/cifar10,
# ../shared/data/cifar10 and .gpu_data/cifar10 that exists. Output goes to
# the terminal and to $OUT/gpu_check.log ($OUT is set on a device machine,
# else /tmp/minialex_gpu_check); the training run's folder is $OUT/gpu_run
# (without its checkpoint, which is deleted: too big to send back from a
# device machine). Extra flags for the training run:
#   TRAIN_ARGS="--subset 20000" bash scripts/gpu_check.sh
#
# Data for a device machine that only gets a copy of the repository (at most
# 64 MiB, so not the whole 55 MB of JPEGs plus the repo): make a subset here
# first, with 2,000 training images per class and the whole test set (27 MB),
# in .gpu_data/ (added to .git/info/exclude, so it is never committed), then
# carry that folder to the machine and run the check on it:
#   bash scripts/gpu_check.sh --make-subset [SRC] [DST] [TRAIN_PER_CLASS] [TEST_PER_CLASS]
#   (defaults: ../shared/data/cifar10 .gpu_data/cifar10 2000 1000)
#   then, there: bash scripts/gpu_check.sh .gpu_data/cifar10   (carry: .gpu_data)

set -u
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.." || exit 1
REPO=$(pwd)
PY=${PYTHON:-python3}
T_SETUP=${T_SETUP:-40} T_COUNT=${T_COUNT:-20} T_TESTS=${T_TESTS:-170}
T_BENCH=${T_BENCH:-120} T_TF32=${T_TF32:-90} T_TRAIN=${T_TRAIN:-120}
PRESET=${PRESET:-paper} EPOCHS=${EPOCHS:-3}
WHL_TARGET=${WHL_TARGET:-/tmp/minialex-gpu-wheels}
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_NO_INDEX=1
# the repository itself, and wheels carried in .whl (installed offline in stage 1)
export PYTHONPATH="$REPO:$WHL_TARGET${PYTHONPATH:+:$PYTHONPATH}"

# ------------------------------------------------------------------ --make-subset
if [ "${1:-}" = "--make-subset" ]; then
    SRC=${2:-../shared/data/cifar10} DST=${3:-.gpu_data/cifar10}
    NTRAIN=${4:-2000} NTEST=${5:-1000}
    [ -d "$SRC/train" ] && [ -d "$SRC/test" ] || { echo "no $SRC/train and $SRC/test image folders"; exit 1; }
    for split in train test; do
        n=$NTRAIN; [ "$split" = test ] && n=$NTEST
        for cls in "$SRC/$split"/*/; do
            cls=$(basename "$cls")
            mkdir -p "$DST/$split/$cls"
            ls "$SRC/$split/$cls" | sort | head -n "$n" | sed "s|^|$SRC/$split/$cls/|" \
                | xargs -d '\n' -r cp -p -t "$DST/$split/$cls/"
        done
    done
    top=${DST#./}; top=${top%%/*}
    exclude=$(git rev-parse --git-path info/exclude 2>/dev/null)
    case "$DST" in /*|..*) exclude="" ;; esac   # outside the repository: nothing to ignore
    if [ -n "$exclude" ] && ! grep -qxF "/$top/" "$exclude" 2>/dev/null; then
        mkdir -p "$(dirname "$exclude")" && echo "/$top/" >> "$exclude"
        echo "added /$top/ to $exclude"
    fi
    echo "subset in $DST: $(find "$DST" -type f | wc -l) files, $(du -sh --apparent-size "$DST" | cut -f1)"
    exit 0
fi

# ------------------------------------------------------------------ --setup (stage 1)
if [ "${1:-}" = "--setup" ]; then
    echo "--- nvidia-smi"
    nvidia-smi || echo "nvidia-smi failed: no NVIDIA driver here?"
    echo "--- $PY: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    if ls "$REPO"/.whl/*.whl >/dev/null 2>&1; then   # offline only: --no-index
        echo "--- wheels from .whl into $WHL_TARGET (no network, no dependencies)"
        "$PY" -m pip install -q --no-index --no-deps --target "$WHL_TARGET" "$REPO"/.whl/*.whl \
            || echo "installing the carried wheels failed"
    fi
    echo "--- what $PY imports"
    for m in numpy cupy torch pytest hypothesis PIL tqdm pooch; do
        "$PY" -c "import $m; print('  $m', getattr($m, '__version__', ''))" 2>/dev/null \
            || echo "  $m: not importable"
    done
    "$PY" - <<'EOF'
import sys
try:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
    x = cupy.arange(4, dtype=cupy.float32)
    assert n > 0 and float((x * x).sum()) == 14.0, "no GPU, or a wrong sum"
except Exception as exc:  # one line, not a traceback
    sys.exit(f"CuPy not usable: {type(exc).__name__}: {exc} (the GPU tests will skip)")
print(f"CuPy {cupy.__version__} works: {n} GPU(s), CUDA runtime "
      f"{cupy.cuda.runtime.runtimeGetVersion()}")
EOF
    "$PY" -c 'import minialex; print("minialex from", minialex.__file__)'
    "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA" if torch.cuda.is_available() else "no CUDA")' 2>/dev/null \
        || echo "torch: not importable (the benchmark runs minialex alone)"
    exit 0
fi

# ------------------------------------------------------------------ the stages
OUT=${OUT:-${TMPDIR:-/tmp}/minialex_gpu_check}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
DATA=${1:-}
if [ -z "$DATA" ]; then
    for c in shared/data/cifar10 ../shared/data/cifar10 .gpu_data/cifar10; do
        [ -d "$c" ] && { DATA=$c; break; }
    done
fi
RESULTS=()

stage() {   # stage NAME SECONDS command...
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    echo
    echo "=== [$name] (at most ${limit}s): $*"
    timeout -k 5 "$limit" "$@"
    rc=$?
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "=== [$name] stopped at its ${limit}s limit"
    echo "=== [$name] exit $rc after $((SECONDS - t0))s"
    RESULTS+=("$name: exit $rc, $((SECONDS - t0))s")
}

echo "gpu_check on $(hostname) at $(date -u '+%Y-%m-%d %H:%M UTC'); repo $REPO; data ${DATA:-none}"
stage setup "$T_SETUP" bash "$SELF" --setup
VPY="$PY"
stage gpu-count "$T_COUNT" "$VPY" -c "import cupy; print(cupy.cuda.runtime.getDeviceCount())"
stage tests "$T_TESTS" "$VPY" -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py \
    tests/test_backend.py tests/test_no_pooch.py tests/test_cuda_kernels_on_cpu.py
stage benchmark "$T_BENCH" "$VPY" benchmarks/train_step.py --device cuda:0 \
    --presets small,half,paper,imagenet --steps 10 --rounds 1
stage benchmark-tf32 "$T_TF32" "$VPY" benchmarks/train_step.py --device cuda:0 --tf32 \
    --presets small,half,paper,imagenet --steps 10 --rounds 1
if [ -n "$DATA" ] && [ -d "$DATA" ]; then
    rm -rf "$OUT/gpu_run"
    # shellcheck disable=SC2086  # TRAIN_ARGS is a list of flags
    stage train "$T_TRAIN" "$VPY" examples/train_cifar.py --data "$DATA" --preset "$PRESET" \
        --devices cuda:0 --epochs "$EPOCHS" --no-progress --out "$OUT/gpu_run" ${TRAIN_ARGS:-}
    for f in metrics.jsonl final.json; do
        [ -f "$OUT/gpu_run/$f" ] && { echo "--- $f"; cat "$OUT/gpu_run/$f"; echo; }
    done
    rm -f "$OUT/gpu_run/checkpoint.npz"   # too big to send back; the metrics are above
else
    echo; echo "=== [train] skipped: no CIFAR-10 folder (pass it as \$1; see --make-subset)"
    RESULTS+=("train: skipped (no data)")
fi

echo
echo "=== summary"
printf '  %s\n' "${RESULTS[@]}"
