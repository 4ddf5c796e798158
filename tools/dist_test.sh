#!/usr/bin/env bash
# Multi-process testing: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]
# One process per GPU (or per CPU share: without CUDA test.py switches the backend to gloo).
# Environment: see tools/dist_launch.sh (PORT, NNODES, NODE_RANK, MASTER_ADDR, TORCHRUN).
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "dist_test.sh: error: usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "dist_test.sh: error: config $1: no such file" >&2
    exit 2
fi
exec bash "$(dirname "$0")/dist_launch.sh" dist_test.sh test.py "$3" "$1" "$2" --launcher pytorch "${@:4}"
