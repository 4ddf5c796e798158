#!/usr/bin/env bash
# Multi-process training: tools/dist_train.sh CONFIG NPROC [train.py args...]
# One process per GPU (or per CPU share: without CUDA train.py switches the backend to gloo).
# Environment: see tools/dist_launch.sh (PORT, NNODES, NODE_RANK, MASTER_ADDR, TORCHRUN).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "dist_train.sh: error: usage: tools/dist_train.sh CONFIG NPROC [train.py args...]" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "dist_train.sh: error: config $1: no such file" >&2
    exit 2
fi
exec bash "$(dirname "$0")/dist_launch.sh" dist_train.sh train.py "$2" "$1" --launcher pytorch "${@:3}"
