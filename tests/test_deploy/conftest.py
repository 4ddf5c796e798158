"""Fixtures of the deployment tests: the runtime packages and exported toy / parity models (once per session)."""
import importlib.util
import os
import os.path as osp

import pytest
import torch

from ..conftest import REPO

TOY_CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_mbv2-toy_1xb2-1100i_toy.py')
TOY_CHECKPOINT = osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth')
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
def toy_export(deploy_packages, toy_model, tmp_path_factory) -> str:
    """The shipped toy SeqFormer exported (and self-checked in ONNX Runtime) as the tool does, in this process."""
    from mmseqformer.deploy.export import export_clip_model

    from ..tool_runner import tool_path
    from ..test_tools.tool_helpers import load_module
    clips, rules = load_module(tool_path('deployment/export_onnx.py')).sample_clips(toy_model)
    out = osp.join(str(tmp_path_factory.mktemp('toy_export')), 'toy_onnx')
    export_clip_model(toy_model, out, clips, dict(checkpoint=dict(file=osp.basename(TOY_CHECKPOINT)), input=rules))
    return out


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
