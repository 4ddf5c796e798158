"""Decide how tools/install.sh builds mmcv 2.1.0's ops: with the CUDA kernels or the CPU ops only.

    python tools/misc/mmcv_build_choice.py

Run with the environment's python (it imports torch). Prints two lines for tools/install.sh::

    <torch version> <python tag> <with_cuda: 0|1> <wheel cache tag>
    <the choice and why, in one sentence>

The rule: CPU ops for a CPU torch; for a CUDA torch, the CUDA kernels when ``nvcc`` is found and a GPU
is visible, or when ``FORCE_CUDA=1`` / ``TORCH_CUDA_ARCH_LIST`` asks for them (the list tells torch which
GPUs to compile for, as it cannot read it from a GPU that is not there); CPU ops otherwise, and always
with ``FORCE_CUDA=0``. The cache tag keeps the two builds apart: ``cpu`` (CPU torch), ``cu130-cpuops``
(CUDA torch, CPU ops), ``cu130-arch8.0_9.0+PTX`` (CUDA kernels for those architectures).

``FORCE_CUDA=1`` where the CUDA kernels cannot be built (a CPU torch, no nvcc, or no GPU and no
``TORCH_CUDA_ARCH_LIST``) prints one ``error:`` line and exits with status 2.
"""
import os
import re
import shutil
import sys
import warnings
from typing import Mapping, NamedTuple, Optional, Tuple

# FORCE_CUDA=1 without a GPU: an example for the error line (H100/H200).
EXAMPLE_ARCH = '9.0'


class ChoiceError(ValueError):
    """The user's request cannot be built here."""


class BuildFacts(NamedTuple):
    torch_version: str  # without the local part (+cpu, +cu130)
    torch_cuda: Optional[str]  # torch.version.cuda: '13.0'; None for a CPU build
    gpu_capabilities: Tuple[Tuple[int, int], ...]  # (major, minor) of each visible GPU
    nvcc: Optional[str]  # path of the nvcc torch's extension builder would use
    force_cuda: str  # $FORCE_CUDA ('' when unset)
    arch_list: str  # $TORCH_CUDA_ARCH_LIST ('' when unset)


class BuildChoice(NamedTuple):
    with_cuda: bool
    cache_tag: str
    reason: str


def find_nvcc(env: Mapping[str, str]) -> Optional[str]:
    """The nvcc torch.utils.cpp_extension would find: $CUDA_HOME/$CUDA_PATH, PATH, /usr/local/cuda."""
    cuda_home = env.get('CUDA_HOME') or env.get('CUDA_PATH')
    if cuda_home:
        candidates = [os.path.join(cuda_home, 'bin', 'nvcc')]
    else:
        candidates = [shutil.which('nvcc', path=env.get('PATH', '')), '/usr/local/cuda/bin/nvcc']
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _arch_tag(arch_list: str) -> str:
    """'8.0;9.0+PTX' -> 'arch8.0_9.0+PTX' (a directory-name-safe rendering of the list)."""
    parts = [re.sub(r'[^0-9A-Za-z.+]', '', p) for p in re.split(r'[;,\s]+', arch_list.strip())]
    return 'arch' + '_'.join(p for p in parts if p)


def _gpu_arch_list(capabilities: Tuple[Tuple[int, int], ...]) -> str:
    """Torch's own default for the visible GPUs: each architecture once, sorted, PTX for the newest."""
    archs = sorted({f'{major}.{minor}' for major, minor in capabilities}, key=lambda a: tuple(map(int, a.split('.'))))
    return ';'.join(archs) + '+PTX'


def choose_mmcv_build(facts: BuildFacts) -> BuildChoice:
    """Apply the rule of the module docstring; raise ChoiceError when FORCE_CUDA=1 cannot be met.

    TORCH_CUDA_ARCH_LIST alone (often exported by cluster environment modules) builds the CUDA kernels
    where it can and falls back to the CPU ops, saying so, where it cannot.
    """
    if facts.force_cuda not in ('', '0', '1'):
        raise ChoiceError(f"FORCE_CUDA must be 0 or 1, got '{facts.force_cuda}'")
    arch_env = facts.arch_list.strip()
    forced = facts.force_cuda == '1'
    asked = forced or (arch_env != '' and facts.force_cuda != '0')

    def cpu_ops(tag: str, why: str) -> BuildChoice:
        if forced:
            raise ChoiceError(f'FORCE_CUDA=1 asks for the CUDA kernels, but {why}')
        return BuildChoice(False, tag, f'CPU ops: {why}')

    if facts.torch_cuda is None:
        return cpu_ops('cpu', f'torch {facts.torch_version} is a CPU build')
    cuda = f'cu{facts.torch_cuda.replace(".", "")}'
    torch_desc = f'torch {facts.torch_version} is a CUDA {facts.torch_cuda} build'
    if facts.force_cuda == '0':
        return cpu_ops(f'{cuda}-cpuops', f'FORCE_CUDA=0 asks for them ({torch_desc})')
    if not asked and not facts.gpu_capabilities:
        nvcc_note = 'nvcc is there, ' if facts.nvcc else ''
        return cpu_ops(f'{cuda}-cpuops', f'{torch_desc} and {nvcc_note}but no GPU is visible; FORCE_CUDA=1 '
                       f"TORCH_CUDA_ARCH_LIST='{EXAMPLE_ARCH}' (your GPUs' architectures) builds the CUDA kernels")
    if facts.nvcc is None:
        return cpu_ops(f'{cuda}-cpuops', f'no nvcc was found (PATH, CUDA_HOME); the CUDA {facts.torch_cuda} '
                       'toolkit is needed for the CUDA kernels')
    if arch_env not in ('', 'native'):  # 'native' means: read the architectures from the GPUs
        arch_list = arch_env
    elif facts.gpu_capabilities:
        arch_list = _gpu_arch_list(facts.gpu_capabilities)
    else:
        return cpu_ops(f'{cuda}-cpuops', 'no GPU is visible to read the architecture from; set TORCH_CUDA_ARCH_LIST '
                       f"to your GPUs' architectures (e.g. '{EXAMPLE_ARCH}' for H100/H200)")
    return BuildChoice(True, f'{cuda}-{_arch_tag(arch_list)}',
                       f'CUDA kernels for architecture {arch_list} ({torch_desc}, nvcc {facts.nvcc})')


def gather_facts(env: Mapping[str, str]) -> BuildFacts:
    """Read the facts from this interpreter's torch and the environment."""
    with warnings.catch_warnings():
        # A CUDA torch without a driver warns while it looks for GPUs; "none" is the answer we want.
        warnings.simplefilter('ignore')
        import torch
        gpus = tuple(tuple(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())
                     ) if torch.cuda.is_available() else ()
    return BuildFacts(
        torch_version=torch.__version__.split('+')[0],
        torch_cuda=torch.version.cuda,
        gpu_capabilities=gpus,
        nvcc=find_nvcc(env),
        force_cuda=env.get('FORCE_CUDA', '').strip(),
        arch_list=env.get('TORCH_CUDA_ARCH_LIST', ''))


def main() -> int:
    try:
        facts = gather_facts(os.environ)
        choice = choose_mmcv_build(facts)
    except ChoiceError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    py_tag = f'{sys.version_info[0]}{sys.version_info[1]}'
    print(facts.torch_version, py_tag, int(choice.with_cuda), choice.cache_tag)
    print(choice.reason)
    return 0


if __name__ == '__main__':
    sys.exit(main())
