"""tools/misc/mmcv_build_choice.py: CUDA kernels or CPU ops for the mmcv build of tools/install.sh.

The rule is tested on BuildFacts directly; the command line with a fake ``torch`` package on PYTHONPATH
(a CUDA or CPU build, with or without GPUs) and a stub ``nvcc`` on PATH, as install.sh runs it.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from tool_helpers import REPO, load_module

CHOICE_PY = osp.join(REPO, 'tools', 'misc', 'mmcv_build_choice.py')
choice_mod = load_module(CHOICE_PY)
PY_TAG = f'{sys.version_info[0]}{sys.version_info[1]}'
NVCC = '/opt/cuda/bin/nvcc'


def facts(torch_cuda='13.0', gpus=(), nvcc=NVCC, force_cuda='', arch_list=''):
    return choice_mod.BuildFacts('2.13.0', torch_cuda, tuple(gpus), nvcc, force_cuda, arch_list)


@pytest.mark.parametrize('case, expected_cuda, expected_tag', [
    # The case: CUDA torch and nvcc, but no GPU to read the architecture from.
    (facts(), False, 'cu130-cpuops'),
    (facts(torch_cuda=None), False, 'cpu'),
    (facts(torch_cuda=None, arch_list='9.0'), False, 'cpu'),
    (facts(gpus=[(9, 0)]), True, 'cu130-arch9.0+PTX'),
    (facts(gpus=[(9, 0), (8, 0), (9, 0)]), True, 'cu130-arch8.0_9.0+PTX'),
    (facts(gpus=[(12, 0), (9, 0)]), True, 'cu130-arch9.0_12.0+PTX'),
    (facts(force_cuda='1', arch_list='8.0;9.0'), True, 'cu130-arch8.0_9.0'),
    (facts(arch_list='9.0'), True, 'cu130-arch9.0'),
    (facts(gpus=[(8, 0)], arch_list='9.0+PTX'), True, 'cu130-arch9.0+PTX'),
    (facts(gpus=[(9, 0)], arch_list='native'), True, 'cu130-arch9.0+PTX'),
    (facts(arch_list='native'), False, 'cu130-cpuops'),
    (facts(gpus=[(9, 0)], force_cuda='0'), False, 'cu130-cpuops'),
    (facts(force_cuda='0', arch_list='9.0'), False, 'cu130-cpuops'),
    (facts(gpus=[(9, 0)], nvcc=None), False, 'cu130-cpuops'),
    (facts(torch_cuda='12.8', gpus=[(8, 6)]), True, 'cu128-arch8.6+PTX'),
])
def test_choice_and_cache_tag(case, expected_cuda, expected_tag):
    choice = choice_mod.choose_mmcv_build(case)
    assert (choice.with_cuda, choice.cache_tag) == (expected_cuda, expected_tag)
    assert choice.reason.startswith('CUDA kernels for architecture' if expected_cuda else 'CPU ops: ')


def test_no_gpu_reason_says_how_to_get_the_cuda_kernels():
    reason = choice_mod.choose_mmcv_build(facts()).reason
    assert 'torch 2.13.0 is a CUDA 13.0 build and nvcc is there, but no GPU is visible' in reason
    assert "FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST='9.0'" in reason


@pytest.mark.parametrize('case, message', [
    (facts(force_cuda='1'), 'no GPU is visible to read the architecture from; set TORCH_CUDA_ARCH_LIST'),
    (facts(torch_cuda=None, force_cuda='1', arch_list='9.0'), 'torch 2.13.0 is a CPU build'),
    (facts(nvcc=None, force_cuda='1', arch_list='9.0'), 'no nvcc was found'),
    (facts(force_cuda='yes'), "FORCE_CUDA must be 0 or 1, got 'yes'"),
])
def test_force_cuda_that_cannot_be_met_is_an_error(case, message):
    with pytest.raises(choice_mod.ChoiceError) as err:
        choice_mod.choose_mmcv_build(case)
    assert message in str(err.value)


def test_cpu_ops_and_cuda_kernels_never_share_a_cache_tag():
    cpu_tags = {choice_mod.choose_mmcv_build(f).cache_tag
                for f in (facts(), facts(torch_cuda=None), facts(gpus=[(9, 0)], force_cuda='0'))}
    cuda_tags = {choice_mod.choose_mmcv_build(f).cache_tag
                 for f in (facts(gpus=[(9, 0)]), facts(arch_list='9.0'), facts(gpus=[(8, 0)]))}
    assert len(cpu_tags) == 2 and len(cuda_tags) == 3  # cpu, cu130-cpuops; one per architecture list
    assert not cpu_tags & cuda_tags


def _stub_nvcc(bin_dir):
    os.makedirs(bin_dir, exist_ok=True)
    nvcc = osp.join(bin_dir, 'nvcc')
    with open(nvcc, 'w') as f:
        f.write('#!/bin/sh\necho "Cuda compilation tools, release 13.0, V13.0.88"\n')
    os.chmod(nvcc, 0o755)
    return nvcc


def test_find_nvcc(tmp_path):
    nvcc = _stub_nvcc(str(tmp_path / 'bin'))
    assert choice_mod.find_nvcc({'PATH': f'{tmp_path}/bin:/usr/bin'}) == nvcc
    assert choice_mod.find_nvcc({'PATH': '/usr/bin', 'CUDA_HOME': str(tmp_path)}) == nvcc
    # CUDA_HOME wins over PATH, as in torch.utils.cpp_extension.
    assert choice_mod.find_nvcc({'PATH': f'{tmp_path}/bin', 'CUDA_HOME': str(tmp_path / 'empty')}) is None


def _fake_torch(root, version, cuda, gpus):
    """A ``torch`` package with just what the choice reads; ``gpus``: (major, minor) per visible GPU."""
    pkg = root / 'torch'
    pkg.mkdir(parents=True)
    (pkg / '__init__.py').write_text(textwrap.dedent(f"""\
        import types
        __version__ = {version!r}
        version = types.SimpleNamespace(cuda={cuda!r})
        _GPUS = {list(gpus)!r}
        cuda = types.SimpleNamespace(is_available=lambda: bool(_GPUS), device_count=lambda: len(_GPUS),
                                     get_device_capability=lambda i: _GPUS[i])
        """))
    return str(root)


def run_choice(tmp_path, version='2.13.0', cuda='13.0', gpus=(), nvcc=True, **env_vars):
    env = {k: v for k, v in os.environ.items()
           if k not in ('FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME', 'CUDA_PATH', 'PYTHONPATH')}
    env['PYTHONPATH'] = _fake_torch(tmp_path / 'site', version, cuda, gpus)
    if nvcc:
        env['PATH'] = f'{tmp_path}/bin:{env.get("PATH", "")}'
        _stub_nvcc(str(tmp_path / 'bin'))
    else:  # hides the machine's own toolkit (PATH, /usr/local/cuda) from the choice
        env['CUDA_HOME'] = str(tmp_path / 'no_cuda')
    env.update(env_vars)
    return subprocess.run([sys.executable, CHOICE_PY], env=env, capture_output=True, text=True, timeout=60)


def test_cli_cuda_torch_with_nvcc_without_gpu_builds_cpu_ops(tmp_path):
    proc = run_choice(tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, reason = proc.stdout.splitlines()
    assert first.split() == ['2.13.0', PY_TAG, '0', 'cu130-cpuops']
    assert reason.startswith('CPU ops: torch 2.13.0 is a CUDA 13.0 build and nvcc is there, but no GPU is visible')


def test_cli_force_cuda_with_arch_list_builds_cuda_kernels_without_gpu(tmp_path):
    proc = run_choice(tmp_path, FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST='8.0;9.0+PTX')
    assert proc.returncode == 0, proc.stderr
    first, reason = proc.stdout.splitlines()
    assert first.split() == ['2.13.0', PY_TAG, '1', 'cu130-arch8.0_9.0+PTX']
    assert reason == (f'CUDA kernels for architecture 8.0;9.0+PTX (torch 2.13.0 is a CUDA 13.0 build, '
                      f'nvcc {tmp_path}/bin/nvcc)')


def test_cli_visible_gpu_builds_cuda_kernels_for_its_architecture(tmp_path):
    proc = run_choice(tmp_path, version='2.13.0+cu130', gpus=[(9, 0)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split() == ['2.13.0', PY_TAG, '1', 'cu130-arch9.0+PTX']


def test_cli_cpu_torch(tmp_path):
    proc = run_choice(tmp_path, version='2.13.0+cpu', cuda=None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f'2.13.0 {PY_TAG} 0 cpu', 'CPU ops: torch 2.13.0 is a CPU build']


def test_cli_gpu_without_nvcc_builds_cpu_ops(tmp_path):
    proc = run_choice(tmp_path, gpus=[(9, 0)], nvcc=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split() == ['2.13.0', PY_TAG, '0', 'cu130-cpuops']


def test_cli_force_cuda_without_gpu_or_arch_list_is_one_error_line(tmp_path):
    proc = run_choice(tmp_path, FORCE_CUDA='1')
    assert proc.returncode == 2
    assert proc.stdout == ''
    assert proc.stderr.splitlines() == [
        'error: FORCE_CUDA=1 asks for the CUDA kernels, but no GPU is visible to read the architecture from; '
        "set TORCH_CUDA_ARCH_LIST to your GPUs' architectures (e.g. '9.0' for H100/H200)"]
