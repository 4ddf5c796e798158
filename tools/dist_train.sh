#!/usr/bin/env bash
# Multi-process training: tools/dist_train.sh CONFIG NPROC [train.py args...]
# One process per GPU (or per CPU share: without CUDA train.py switches the backend to gloo).
# Environment: PORT (29500), NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1),
# TORCHRUN (default: torchrun from PATH, else python -m torch.distributed.run).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "dist_train.sh: error: usage: tools/dist_train.sh CONFIG NPROC [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
    echo "dist_train.sh: error: NPROC must be a positive integer, got '$NPROC'" >&2
    exit 2
fi
if [ ! -f "$CONFIG" ]; then
    echo "dist_train.sh: error: config $CONFIG: no such file" >&2
    exit 2
fi
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)

if [ -n "${TORCHRUN:-}" ]; then
    read -r -a LAUNCH <<< "$TORCHRUN"
elif command -v torchrun > /dev/null; then
    LAUNCH=(torchrun)
else
    LAUNCH=(python -m torch.distributed.run)
fi

PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "${LAUNCH[@]}" \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$NPROC" \
    --master_port="${PORT:-29500}" \
    "$TOOLS_DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
