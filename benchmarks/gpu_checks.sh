#!/usr/bin/env bash
# The GPU layer of evosym's verification (docs/cuda.md): run on a machine with a CUDA GPU, nvcc and a
# CUDA build of torch, from the repository root. Prints the GPU, then every numeric check of the
# generated kernels run on the GPU (TF32 off), then the kernel benchmarks.
set -u
nvidia-smi --query-gpu=name,clocks.max.memory,memory.total,driver_version --format=csv
python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"
nvcc --version | tail -1
export EVOSYM_CACHE="${EVOSYM_CACHE:-/tmp/evosym-cache}"
python -m evosym check --all --device cuda --kernels
python -m pytest -q -p no:cacheprovider tests/test_fused_attention.py   # the fused attention on the GPU too
python -m pytest -q -p no:cacheprovider tests/test_cuda_codegen.py -k gather   # NATTEN's, Swin's aggregation kernels
python -m evosym bench involution --device cuda --kernels --size B=64
python -m evosym bench involution --device cuda --kernels --size B=8
python -m evosym bench local_attention --device cuda --kernels
python -m evosym bench neighborhood_attention --device cuda --kernels   # a clamped window (NATTEN)
python -m evosym bench swin_attention --device cuda --kernels           # tiled, wrapping windows (Swin)
python -m evosym bench --device cuda --repeat 15
