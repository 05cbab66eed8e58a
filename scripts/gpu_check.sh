#!/usr/bin/env bash
# The one script to run on a GPU machine (made for a lent H200: one GPU, a
# CUDA 12 or 13 driver, possibly no network). Five stages, each bounded by
# `timeout` and each run even when the one before failed; at most 520 s of
# stages in all (the T_* variables below), so it fits a 600 s device call:
#
#   1. setup: a venv that sees the machine's own packages, the project
#      installed into it (editable), and the CuPy wheel that matches the
#      driver (cupy-cuda12x for CUDA 12.x, cupy-cuda13x for 13.x, read off
#      `nvidia-smi`) plus pytest and hypothesis, each only if not already
#      importable (pip looks first in ./.whl when that folder exists);
#   2. the GPU count as CuPy sees it;
#   3. python -m pytest -q tests/test_gpu.py tests/test_backend.py;
#   4. benchmarks/train_step.py --device cuda:0 (all presets, 10 steps);
#   5. a 3-epoch CIFAR-10 run of the "half" preset on cuda:0, printing
#      images/s and test accuracy per epoch (skipped if there is no data).
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
VENV=${VENV:-/tmp/minialex-gpu-venv}
T_SETUP=${T_SETUP:-60} T_COUNT=${T_COUNT:-30} T_TESTS=${T_TESTS:-170}
T_BENCH=${T_BENCH:-140} T_TRAIN=${T_TRAIN:-120}
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"   # works even if the editable install fails

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
pip_get() {   # pip install what is missing; quick to fail where there is no network
    local links=()
    [ -d "$REPO/.whl" ] && links=(--find-links "$REPO/.whl")
    "$VPY" -m pip install -q --retries 0 --timeout 15 "${links[@]}" "$@"
}

cupy_works() {
    "$VPY" - <<'EOF'
import sys
try:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
    x = cupy.arange(4, dtype=cupy.float32)
    assert n > 0 and float((x * x).sum()) == 14.0, "no GPU, or a wrong sum"
except Exception as exc:  # one line, not a traceback
    sys.exit(f"CuPy not usable: {type(exc).__name__}: {exc}")
print(f"CuPy {cupy.__version__} works: {n} GPU(s), CUDA runtime "
      f"{cupy.cuda.runtime.runtimeGetVersion()}")
EOF
}

if [ "${1:-}" = "--setup" ]; then
    echo "--- nvidia-smi"
    nvidia-smi || echo "nvidia-smi failed: no NVIDIA driver here?"
    CUDA_MAJOR=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
    if [ -z "$CUDA_MAJOR" ]; then   # from the driver version: 580 and later ship CUDA 13
        drv=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)
        CUDA_MAJOR=12; [ "${drv%%.*}" -ge 580 ] 2>/dev/null && CUDA_MAJOR=13
    fi
    WHEEL="cupy-cuda${CUDA_MAJOR}x"
    echo "--- driver's CUDA major version: $CUDA_MAJOR -> $WHEEL"
    echo "--- venv $VENV (from $PY: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])'))"
    rm -rf "$VENV"
    if "$PY" -m venv --system-site-packages "$VENV" || \
       { rm -rf "$VENV"; "$PY" -m venv --system-site-packages --without-pip "$VENV"; }; then
        VPY="$VENV/bin/python"
        # --system-site-packages sees the base interpreter's packages; where
        # $PY is itself a venv (an image's torch/cupy environment), its
        # packages are added too, after the new venv's own
        site=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        "$PY" -c 'import site, sys; [print(p) for p in site.getsitepackages() if sys.prefix != sys.base_prefix]' \
            > "$site/_outer_env.pth"
    else
        echo "could not make a venv: using $PY itself"
        VPY="$PY"
    fi
    echo "--- the project (editable, no dependencies fetched)"
    if ! log=$("$VPY" -m pip install -q --no-build-isolation --no-deps -e "$REPO" 2>&1); then
        echo "$log" | grep -i "error" | tail -n 2
        echo "editable install failed: the stages use PYTHONPATH=$REPO instead"
    fi
    "$VPY" -c 'import numpy, PIL, tqdm, pooch' 2>/dev/null || pip_get "numpy>=1.24" "pillow>=9.0" "tqdm>=4.60" "pooch>=1.6"
    echo "--- CuPy"
    if ! cupy_works; then
        echo "installing $WHEEL"
        pip_get "$WHEEL" && cupy_works || echo "CuPy is not usable: the GPU tests will skip"
    fi
    echo "--- pytest, hypothesis"
    "$VPY" -c 'import pytest, hypothesis' 2>/dev/null || pip_get "pytest>=7" "hypothesis>=6.80"
    "$VPY" -c 'import numpy, pytest, hypothesis; print("numpy", numpy.__version__, "pytest", pytest.__version__, "hypothesis", hypothesis.__version__)'
    "$VPY" -c 'import torch; print("torch", torch.__version__, "CUDA" if torch.cuda.is_available() else "no CUDA")' 2>/dev/null \
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
VPY="$VENV/bin/python"
[ -x "$VPY" ] || VPY="$PY"
stage gpu-count "$T_COUNT" "$VPY" -c "import cupy; print(cupy.cuda.runtime.getDeviceCount())"
stage tests "$T_TESTS" "$VPY" -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py tests/test_backend.py
stage benchmark "$T_BENCH" "$VPY" benchmarks/train_step.py --device cuda:0 \
    --presets small,half,paper,imagenet --steps 10 --rounds 1
if [ -n "$DATA" ] && [ -d "$DATA" ]; then
    rm -rf "$OUT/gpu_run"
    # shellcheck disable=SC2086  # TRAIN_ARGS is a list of flags
    stage train "$T_TRAIN" "$VPY" examples/train_cifar.py --data "$DATA" --preset half \
        --devices cuda:0 --epochs 3 --no-progress --out "$OUT/gpu_run" ${TRAIN_ARGS:-}
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
