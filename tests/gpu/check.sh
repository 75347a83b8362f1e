#!/usr/bin/env bash
# talkgs' GPU check (README: "The GPU check"), from the repository root of a fresh machine with
# one CUDA GPU, nvcc and torch (gsplat, lpips, pytorch-fid carried as wheels in .whl/, the demo
# identity's preprocessed folder in .carry/demo):
#
#   tests/gpu/check.sh          build gsplat (talkgs gpu-setup), run the CUDA tests, then
#                               tests/gpu/check.py: train + render the demo at 512² with gsplat,
#                               gsplat against the PyTorch rasterizer on the trained avatar,
#                               LPIPS/FID networks against lpips/pytorch-fid; prints the figures
#   tests/gpu/check.sh --cpu    the same logic at toy sizes on the CPU (the test suite runs it)
#
# Environment: OUT (folder for check.json and logs), PYTHON (default python3),
# TALKGS_CHECK_IDENTITY (default .carry/demo).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=gpu
[ "${1:-}" = "--cpu" ] && mode=cpu
out=${OUT:-${TMPDIR:-/tmp}/talkgs-gpu-check}
python=${PYTHON:-python3}
identity=${TALKGS_CHECK_IDENTITY:-.carry/demo}
mkdir -p "$out"
started=$(date +%s)
status=0

if compgen -G ".whl/*.whl" > /dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/talkgs-site .whl/*.whl
  export PYTHONPATH=/tmp/talkgs-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1

if [ "$mode" = gpu ]; then
  export TALKGS_TORCH_EXTENSIONS=${TALKGS_TORCH_EXTENSIONS:-/tmp/talkgs-torch-extensions}
  export MAX_JOBS=${MAX_JOBS:-$(nproc)}
  echo "=== talkgs gpu-setup (MAX_JOBS=$MAX_JOBS)"
  if ! "$python" -m talkgs gpu-setup --log "$out/gpu-setup.log"; then
    tail -n 60 "$out/gpu-setup.log"
    exit 1
  fi
  tail -n 1 "$out/gpu-setup.log"
  echo "gsplat build + proof: $(( $(date +%s) - started )) s"
  echo "=== CUDA tests"
  "$python" -m pytest -q -p no:cacheprovider tests/test_splat.py tests/test_densify.py \
    tests/test_runtime.py > "$out/pytest.log" 2>&1 || status=$?
  tail -n 15 "$out/pytest.log"
fi

echo "=== tests/gpu/check.py --mode $mode"
"$python" tests/gpu/check.py --mode "$mode" --identity-root "$identity" --out "$out" || status=$?
echo "GPU check ($mode): $(( $(date +%s) - started )) s in all, exit status $status"
exit $status
