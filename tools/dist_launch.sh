#!/usr/bin/env bash
# Shared launcher of dist_train.sh / dist_test.sh: dist_launch.sh NAME SCRIPT NPROC [SCRIPT args...]
# Environment: PORT (29500), NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1),
# TORCHRUN (default: torchrun from PATH, else python -m torch.distributed.run).
set -euo pipefail
NAME=$1
SCRIPT=$2
NPROC=$3
shift 3
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
    echo "$NAME: error: NPROC must be a positive integer, got '$NPROC'" >&2
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
    "$TOOLS_DIR/$SCRIPT" "$@"
