"""Shared pytest fixtures."""
from __future__ import annotations

import importlib.util
import os
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pytest_configure(config: pytest.Config) -> None:
    # `make test` runs two pytest-xdist workers on the 2 cores: each computes on one thread, and so do the tools it
    # starts (the variables are inherited). Two workers at two threads each would oversubscribe the cores, where
    # OpenMP's waiting threads can slow a step many times over. The exported-model backends follow torch's count.
    if os.environ.get('PYTEST_XDIST_WORKER'):
        os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '1'
        import torch
        torch.set_num_threads(1)


def parity_dir() -> str:
    """The official parity vectors: $MMSEQFORMER_PARITY_DIR or ../shared/parity beside the repo."""
    return os.environ.get('MMSEQFORMER_PARITY_DIR', osp.join(REPO, '..', 'shared', 'parity'))


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, compute):
    """``compute(folder)``'s JSON-able result, computed by one process of the test run and read by the others.

    A session fixture runs once per pytest-xdist worker; for work that costs CPU minutes (an export) the first
    worker to ask computes it into ``folder`` under a lock, and the others wait for it and read the stored result.
    Without xdist it is an ordinary session fixture's body.
    """
    import fcntl
    import json
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent  # the run's base folder, above every worker's own
    shared = root / f'shared_{name}'
    shared.mkdir(exist_ok=True)
    with open(shared / 'lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = shared / 'result.json'
        if not done.exists():
            (shared / 'work').mkdir(exist_ok=True)
            result = compute(str(shared / 'work'))
            done.write_text(json.dumps(result))
        return json.loads(done.read_text())


@pytest.fixture(scope='session')
def parity_path() -> str:
    # Locally the parity folder may be absent (skip); CI must have it, so a missing folder fails there.
    path = parity_dir()
    if not osp.isfile(osp.join(path, 'make_official_state_dict.py')):
        if os.environ.get('CI'):
            pytest.fail(f'parity vectors not found in {path} (set MMSEQFORMER_PARITY_DIR)')
        pytest.skip(f'parity vectors not found in {path}')
    return path


@pytest.fixture(scope='session')
def infer_case(parity_path) -> dict:
    """The official SeqFormer's inference case: a 3-frame 128x160 clip, outputs and intermediates (README §4)."""
    import torch
    return torch.load(osp.join(parity_path, 'case_infer_t3.pt'), weights_only=True)


@pytest.fixture(scope='session')
def official_state_dict(parity_path):
    """The official-format R50 parity state dict (42 classes, 733 keys), rebuilt by its own script."""
    spec = importlib.util.spec_from_file_location('make_official_state_dict',
                                                  osp.join(parity_path, 'make_official_state_dict.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_state_dict(parity_path, check=False, verbose=False)


@pytest.fixture(scope='session')
def toy_vis_small(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small toy_vis set (16 train / 4 valid videos, seed 0); the folder path. Do not modify it."""
    from mmseqformer.converters.toy_vis_generator import generate_toy_vis
    return generate_toy_vis(osp.join(str(tmp_path_factory.mktemp('toy_vis_small')), 'toy_vis'), seed=0,
                            num_train=16, num_valid=4)


@pytest.fixture(scope='session')
def toy_vis_default(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The default toy_vis set (48 train / 12 valid videos, seed 0); the folder path. Do not modify it."""
    from mmseqformer.converters.toy_vis_generator import generate_toy_vis
    return generate_toy_vis(osp.join(str(tmp_path_factory.mktemp('toy_vis_default')), 'toy_vis'), seed=0)


def run_toy_test_tool(config: str, weights: str, data_root: str, work_dir: str, *extra: str, ann: str = '',
                      cfg_options: tuple = ()) -> dict:
    """``tools/test.py CONFIG WEIGHTS`` on a toy_vis folder (2 threads); its segm metrics without the prefix.

    ``extra``: more tool arguments; ``ann``: the split's annotation name under ``annotations/`` (default: the
    config's); ``cfg_options``: more ``key=value`` config options.
    """
    import glob
    import json
    import subprocess
    import sys
    options = [f'test_dataloader.dataset.data_root={data_root}/', *cfg_options]
    if ann:
        options.append(f'test_dataloader.dataset.ann_file=annotations/{ann}.json')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), config, weights, '--work-dir', work_dir, *extra,
         '--cfg-options', *options],
        cwd=REPO, capture_output=True, text=True, timeout=1200, env=dict(os.environ, OMP_NUM_THREADS='2'))
    assert proc.returncode == 0, proc.stderr[-5000:]
    [metrics_file] = glob.glob(osp.join(work_dir, '2*', '2*.json'))
    with open(metrics_file) as f:
        return {k.split('/segm_')[-1]: v for k, v in json.load(f).items()}


@pytest.fixture(scope='session')
def seqformer_toy_metrics(toy_vis_default, tmp_path_factory) -> dict:
    """The shipped toy SeqFormer's metrics on toy valid through tools/test.py in PyTorch (run once per session)."""
    return run_toy_test_tool(osp.join(REPO, 'configs', 'seqformer', 'seqformer_mbv2-toy_1xb2-1100i_toy.py'),
                             osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth'), toy_vis_default,
                             str(tmp_path_factory.mktemp('seqformer_toy_eval')))


def vistr_parity_dir() -> str:
    """The official VisTR parity vectors: $MMSEQFORMER_PARITY_VISTR_DIR or ../shared/parity_vistr beside the repo."""
    return os.environ.get('MMSEQFORMER_PARITY_VISTR_DIR', osp.join(REPO, '..', 'shared', 'parity_vistr'))


def vistr_parity_cases(prefix: str) -> list:
    """Paths of the ``<prefix>*.pt`` cases of the VisTR parity folder (collected when the tests are), sorted.

    A kind without a case gives ``[None]`` so that its parametrized test runs and fails instead of being skipped.
    """
    import glob
    found = sorted(glob.glob(osp.join(vistr_parity_dir(), f'{prefix}*.pt')))
    return found or [None]


@pytest.fixture(scope='session')
def vistr_parity_path() -> str:
    # Never skipped: the VisTR parity tests are acceptance tests of the model (issue #18).
    path = vistr_parity_dir()
    if not osp.isfile(osp.join(path, 'make_official_state_dict.py')):
        pytest.fail(f'VisTR parity vectors not found in {path} (set MMSEQFORMER_PARITY_VISTR_DIR)')
    return path


@pytest.fixture(scope='session')
def official_vistr_state_dict(vistr_parity_path):
    """The official-format VisTR R50 parity state dict (503 keys, 30 queries), rebuilt by its own script."""
    spec = importlib.util.spec_from_file_location('make_vistr_official_state_dict',
                                                  osp.join(vistr_parity_path, 'make_official_state_dict.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_state_dict(vistr_parity_path, check=True, verbose=False)


def objprop_parity_dir() -> str:
    """The official ObjProp parity vectors: $MMSEQFORMER_PARITY_OBJPROP_DIR or ../shared/parity_objprop beside the
    repo."""
    return os.environ.get('MMSEQFORMER_PARITY_OBJPROP_DIR', osp.join(REPO, '..', 'shared', 'parity_objprop'))


def objprop_parity_cases(prefix: str) -> list:
    """Paths of the ``<prefix>*.pt`` cases of the ObjProp parity folder, sorted; ``[None]`` (a failing case, never a
    skip) when there is none."""
    import glob
    found = sorted(glob.glob(osp.join(objprop_parity_dir(), f'{prefix}*.pt')))
    return found or [None]


@pytest.fixture(scope='session')
def official_objprop_module():
    """The parity folder's own weight-rebuild script (``build_state_dict``, ``dequant``); never skipped."""
    path = objprop_parity_dir()
    script = osp.join(path, 'make_official_state_dict.py')
    if not osp.isfile(script):
        pytest.fail(f'ObjProp parity vectors not found in {path} (set MMSEQFORMER_PARITY_OBJPROP_DIR)')
    spec = importlib.util.spec_from_file_location('make_objprop_official_state_dict', script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
