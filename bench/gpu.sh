#!/usr/bin/env bash
# Record GPU training throughput in BENCHMARKS.md in one short run, on a Linux machine with an
# NVIDIA GPU: installs the GPU extras into a fresh venv, then runs bench/distributed.py on one
# GPU and, with --distribute, on every GPU, writing each table between its markers.
# UNTESTED ON A GPU: written for a machine this project has not had; see BENCHMARKS.md.
#   bench/gpu.sh [--size N]     (default 60000: one MNIST-sized epoch)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null || { echo "bench/gpu.sh: no nvidia-smi; this needs an NVIDIA GPU" >&2; exit 1; }
SIZE=60000
if [ "${1:-}" = "--size" ]; then SIZE="$2"; fi
GPUS=$(nvidia-smi --list-gpus | wc -l)
python3 -m venv .venv-gpu
.venv-gpu/bin/python -m pip install -q --upgrade pip
.venv-gpu/bin/python -m pip install -q -e '.[gpu,jax]' 'jax[cuda12]'
.venv-gpu/bin/python -c "import tensorflow as tf, jax; assert tf.config.list_physical_devices('GPU'), 'TensorFlow sees no GPU'; assert jax.devices('gpu'), 'JAX sees no GPU'"
# one GPU: every process sees GPU 0 only (launch's processes share it)
CUDA_VISIBLE_DEVICES=0 .venv-gpu/bin/python bench/distributed.py --size "$SIZE" --batch 256 \
  --processes 1 --label gpu-1 --write BENCHMARKS.md
# every GPU, data-parallel in one process (MirroredStrategy / DataParallel)
if [ "$GPUS" -gt 1 ]; then
  .venv-gpu/bin/python bench/distributed.py --size "$SIZE" --batch $((256 * GPUS)) \
    --processes 1 --distribute --label "gpu-$GPUS" --write BENCHMARKS.md
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | sed 's/^/GPU: /'
echo "bench/gpu.sh: BENCHMARKS.md updated (gpu-1$([ "$GPUS" -gt 1 ] && echo ", gpu-$GPUS")); commit it with the GPU model above"
