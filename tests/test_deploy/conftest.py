"""Fixtures of the deployment tests: the runtime packages and exported toy / parity models (once per session)."""
import importlib.util
import os
import os.path as osp

import pytest
import torch

from ..conftest import REPO

TOY_CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_mbv2-toy_1xb2-1100i_toy.py')
TOY_CHECKPOINT = osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth')
EXPORT_TOOL = 'deployment/export_onnx.py'
R50_CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_r50_8xb2-12e_youtubevis2019.py')
PACKAGES = ('onnx', 'onnxscript', 'onnxruntime', 'openvino')


@pytest.fixture(scope='session')
def deploy_packages() -> None:
    # Locally the optional packages may be absent (skip); CI installs requirements/deploy.txt, so there it fails.
    missing = [p for p in PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        message = f'deployment packages missing: {", ".join(missing)} (pip install -r requirements/deploy.txt)'
        if os.environ.get('CI'):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope='session')
def toy_model():
    from mmseqformer.apis import init_model
    return init_model(TOY_CONFIG, TOY_CHECKPOINT)


@pytest.fixture(scope='session')
def toy_cli_export(deploy_packages, tmp_path_factory):
    """The shipped toy SeqFormer exported (and self-checked in ONNX Runtime) by the script, a real subprocess.

    The one toy export of the test run (of all its xdist workers): tracing the graphs costs minutes of CPU, so every
    test reads this folder.
    """
    import subprocess

    from ..conftest import once_per_run
    from ..tool_runner import run_script

    def export(folder: str) -> dict:
        out = osp.join(folder, 'toy_onnx')
        proc = run_script(EXPORT_TOOL, TOY_CONFIG, TOY_CHECKPOINT, '--out', out, timeout=1800)
        return dict(out=out, args=proc.args, returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

    run = once_per_run(tmp_path_factory, 'toy_export', export)
    proc = subprocess.CompletedProcess(run['args'], run['returncode'], run['stdout'], run['stderr'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run['out'], proc


@pytest.fixture(scope='session')
def toy_export(toy_cli_export) -> str:
    return toy_cli_export[0]


@pytest.fixture(scope='session')
def parity_r50(official_state_dict):
    """The converted official parity R50 (40 classes) with its config, as ``init_model`` gives a model."""
    from mmengine.config import Config

    from mmseqformer.apis import init_model
    from mmseqformer.models.utils import convert_official_state_dict
    cfg = Config.fromfile(R50_CONFIG)
    model = init_model(cfg)
    model.load_state_dict(convert_official_state_dict(official_state_dict), strict=True)
    return model.eval()


@pytest.fixture(scope='session')
def parity_r50_export(deploy_packages, parity_r50, infer_case, tmp_path_factory) -> str:
    """The parity R50 exported on the parity clip's size (128x160) and a second size."""
    from mmseqformer.deploy.export import export_clip_model
    clip = infer_case['inputs']['clip']
    out = osp.join(str(tmp_path_factory.mktemp('r50_export')), 'r50_onnx')
    export_clip_model(parity_r50, out, [clip, torch.randn(2, 3, 96, 200, generator=torch.Generator().manual_seed(0))],
                      dict(checkpoint=dict(file='official parity weights')))
    return out
