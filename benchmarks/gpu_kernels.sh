#!/usr/bin/env bash
# The involution kernel benchmarks alone (see benchmarks/gpu_checks.sh for the full GPU layer).
set -u
export EVOSYM_CACHE="${EVOSYM_CACHE:-/tmp/evosym-cache}"
python -m evosym check involution --device cuda --kernels
python -m evosym bench involution --device cuda --kernels --size B=64
python -m evosym bench involution --device cuda --kernels --size B=8
