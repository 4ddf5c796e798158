"""Helpers of the tool tests: config paths, CLI runner, script import, model builder."""
import importlib.util
import os.path as osp
import subprocess
import sys
from typing import List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', 'seqformer')
R50_CONFIG = osp.join(CONFIG_DIR, 'seqformer_r50_8xb2-12e_youtubevis2019.py')


def run_tool(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``tools/<script>`` with this interpreter from the repository root."""
    return subprocess.run([sys.executable, osp.join(REPO, 'tools', script), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900)


def stderr_lines(proc: subprocess.CompletedProcess) -> List[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


def load_module(path: str):
    """Import a script by path (tools are not a package)."""
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_model(config: str = R50_CONFIG, **track_head_overrides):
    """Build the model section of a config on CPU the way the runner does."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseqformer  # noqa: F401

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    cfg.model.track_head.update(track_head_overrides)
    return MODELS.build(cfg.model)
