#!/usr/bin/env bash
# Prepare, on a machine with internet access, what tests/gpu/check.sh needs on a GPU machine
# without any (README: "The GPU check"):
#   .whl/         gsplat 1.5.3, lpips 0.1.4 and pytorch-fid 0.3.0 wheels (pure Python, any 3.x)
#   .carry/demo/  the preprocessed demo identity: what training and rendering read (~36 MB)
# Usage: tests/gpu/prepare.sh [IDENTITY_DIR]   (default results/demo, made by `make demo`)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
source_dir=${1:-results/demo}
for needed in frames gt_imgs parsing bc.jpg pose.npz audio.wav features/au.csv features/aud_mel.npy; do
  if [ ! -e "$source_dir/$needed" ]; then
    echo "prepare: $source_dir/$needed is missing: run make demo first (or give a preprocessed identity)" >&2
    exit 2
  fi
done
mkdir -p .whl
"$python" -m pip download -q --no-deps --only-binary=:all: --platform any --python-version 3.12 \
  --implementation cp -d .whl gsplat==1.5.3 lpips==0.1.4 pytorch-fid==0.3.0
rm -rf .carry/demo
mkdir -p .carry/demo/features
cp -r "$source_dir/frames" "$source_dir/gt_imgs" "$source_dir/parsing" "$source_dir/bc.jpg" \
  "$source_dir/pose.npz" "$source_dir/audio.wav" .carry/demo/
cp "$source_dir/features/au.csv" "$source_dir/features/aud_mel.npy" .carry/demo/features/
du -sh .whl .carry
