#!/usr/bin/env bash
# Idempotent set-up of the project environment (default: ./.venv).
#
#   torch    an importable torch>=2.1 of the base interpreter is reused (venv with system site
#            packages, e.g. a CUDA build on a GPU box); otherwise torch==2.13.0 is installed.
#   mmcv     2.1.0 built from source with ops (no wheel on PyPI). tools/misc/mmcv_build_choice.py
#            decides between the CUDA kernels (CUDA torch + nvcc + a visible GPU, or FORCE_CUDA=1 /
#            TORCH_CUDA_ARCH_LIST) and the CPU ops (everything else, e.g. a CUDA torch on a machine
#            without a GPU) and prints its choice. The built wheel is cached in
#            $MMSEQFORMER_CACHE/wheels (default ~/.cache/mmseqformer/wheels), keyed by the versions of
#            mmcv, torch and Python and that choice, so the ~13 minute build happens once per machine.
#   rest     requirements/pinned.txt, then this project in editable mode.
#
# Environment: PYTHON (interpreter for the venv, default python3), MMSEQFORMER_VENV,
# MMSEQFORMER_CACHE, MMSEQFORMER_TORCH (pip spec overriding the torch choice), MAX_JOBS, FORCE_CUDA,
# TORCH_CUDA_ARCH_LIST (setting either re-checks the mmcv choice of an installed environment).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMSEQFORMER_VENV:-$ROOT/.venv}
BASE_PY=${PYTHON:-python3}
CACHE=${MMSEQFORMER_CACHE:-$HOME/.cache/mmseqformer}
MMCV_VERSION=2.1.0
log() { echo "[install] $*"; }

CHOICE_PY=$ROOT/tools/misc/mmcv_build_choice.py
# Re-running is cheap: the stamp holds a hash of every file that decides what gets installed and the
# cache tag of the installed mmcv build.
inputs_hash() {
    cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$ROOT/tools/install.sh" "$CHOICE_PY" | sha256sum | cut -c1-16
}
STAMP=$VENV/.mmseqformer-installed
up_to_date() {
    local hash tag
    [[ -f $STAMP ]] && read -r hash tag <"$STAMP" || return 1
    [[ $hash == "$(inputs_hash)" ]] && "$VENV/bin/python" -c "import mmseqformer, mmdet, mmcv.ops" 2>/dev/null || return 1
    # Without FORCE_CUDA/TORCH_CUDA_ARCH_LIST the installed build is kept as it is (a CUDA build made with
    # TORCH_CUDA_ARCH_LIST on a machine without a GPU stays); with them, it must be the build they ask for.
    [[ -z ${FORCE_CUDA:-}${TORCH_CUDA_ARCH_LIST:-} ]] && return 0
    [[ $tag == "$("$VENV/bin/python" "$CHOICE_PY" 2>/dev/null | awk 'NR == 1 {print $4}')" ]]
}
if up_to_date; then
    log "environment up to date: $VENV"
    exit 0
fi

command -v "$BASE_PY" >/dev/null || { echo "error: interpreter '$BASE_PY' not found (set PYTHON=...)" >&2; exit 2; }
base_torch_ok=$("$BASE_PY" - <<'EOF' 2>/dev/null || true
import torch
major, minor = (int(x) for x in torch.__version__.split('.')[:2])
print('yes' if (major, minor) >= (2, 1) else 'no')
EOF
)
if [[ ! -x $VENV/bin/python ]]; then
    if [[ $base_torch_ok == yes && -z ${MMSEQFORMER_TORCH:-} ]]; then
        log "reusing the base interpreter's torch (venv with system site packages)"
        "$BASE_PY" -m venv --system-site-packages "$VENV"
    else
        "$BASE_PY" -m venv "$VENV"
    fi
fi
PY=$VENV/bin/python
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

pip_install --upgrade pip
pip_install -r "$ROOT/requirements/build.txt"
if ! "$PY" -c "import torch" 2>/dev/null || [[ -n ${MMSEQFORMER_TORCH:-} ]]; then
    spec=${MMSEQFORMER_TORCH:-torch==2.13.0}
    log "installing $spec"
    pip_install "$spec"
fi
# CUDA kernels or CPU ops (torch decides, so before the rest); FORCE_CUDA=1 that cannot be met stops
# here with its error line (exit 2).
choice=$("$PY" "$CHOICE_PY")
{ read -r TORCH_V PY_V WITH_CUDA BUILD_TAG; read -r CHOICE_WHY; } <<<"$choice"
log "mmcv ops: $CHOICE_WHY"
# numpy/opencv first: the mmcv build compiles against this numpy and records the opencv flavour.
pip_install -r "$ROOT/requirements/pinned.txt" -c "$ROOT/requirements/build.txt"

WHEEL_DIR=$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_V-py$PY_V-$BUILD_TAG
mkdir -p "$WHEEL_DIR"
wheel=$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n1 || true)
if [[ -z $wheel ]]; then
    log "building mmcv $MMCV_VERSION with ops ($BUILD_TAG) once for this machine; this takes a while"
    # torch's dependencies may have upgraded setuptools past the pkg_resources that mmcv's setup.py needs.
    pip_install -r "$ROOT/requirements/build.txt"
    tmp=$(mktemp -d "$CACHE/wheels/build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    # Newer torch no longer ships <THC/THCAtomics.cuh>, which mmcv 2.1.0's CUDA deformable-attention
    # kernel includes; a shim forwarding to the ATen header keeps the CUDA build working.
    mkdir -p "$tmp/shim/THC"
    echo '#include <ATen/cuda/Atomic.cuh>' >"$tmp/shim/THC/THCAtomics.cuh"
    (
        export MMCV_WITH_OPS=1 FORCE_CUDA=$WITH_CUDA MAX_JOBS=${MAX_JOBS:-$(nproc)}
        export CPATH=$tmp/shim${CPATH:+:$CPATH}
        if [[ $WITH_CUDA == 1 ]]; then
            export NVCC_APPEND_FLAGS="-I$tmp/shim ${NVCC_APPEND_FLAGS:-}"
        else
            # mmcv's setup.py builds the CUDA kernels whenever torch sees a GPU (FORCE_CUDA=0 with a GPU).
            export CUDA_VISIBLE_DEVICES=
        fi
        "$PY" -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation \
            --no-binary mmcv -w "$tmp" "mmcv==$MMCV_VERSION"
    )
    built=$(ls "$tmp"/mmcv-*.whl)
    mv "$built" "$WHEEL_DIR/"  # same filesystem: the cache never holds a half-written wheel
    wheel=$WHEEL_DIR/$(basename "$built")
else
    log "using cached mmcv wheel $wheel"
fi
pip_install --force-reinstall --no-deps "$wheel"
# mmcv's own runtime deps (addict, yapf, ...) without letting pip swap the pinned stack.
pip_install addict packaging Pillow pyyaml yapf
pip_install --no-deps --no-build-isolation -e "$ROOT"
headless=$(grep -E '^opencv-python-headless==' "$ROOT/requirements/pinned.txt")
pip_install --force-reinstall --no-deps "$headless"

"$PY" - <<'EOF'
import mmcv, mmdet, mmengine, torch
from mmcv.ops import MultiScaleDeformableAttention  # noqa: F401  (needs the compiled mmcv._ext)
import mmseqformer
print(f'[install] torch {torch.__version__} (cuda: {torch.version.cuda}), mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, mmseqformer {mmseqformer.__version__}')
EOF
echo "$(inputs_hash) $BUILD_TAG" >"$STAMP"
log "done: activate with 'source ${VENV#"$ROOT"/}/bin/activate'"
