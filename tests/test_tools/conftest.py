"""Fixtures for the tool tests: the official parity weights (helpers live in tool_helpers.py)."""
import os
import os.path as osp

import pytest
from tool_helpers import load_module, parity_dir


@pytest.fixture(scope='session')
def parity_path() -> str:
    # Locally the parity folder may be absent (skip); CI must have it, so a missing folder fails there.
    path = parity_dir()
    if not osp.isfile(osp.join(path, 'make_official_state_dict.py')):
        if os.environ.get('CI'):
            pytest.fail(f'parity weights not found in {path} (set MMSEQFORMER_PARITY_DIR)')
        pytest.skip(f'parity weights not found in {path}')
    return path


@pytest.fixture(scope='session')
def official_state_dict(parity_path):
    """The official-format R50 parity state dict (42 classes, 733 keys)."""
    module = load_module(osp.join(parity_path, 'make_official_state_dict.py'))
    return module.build_state_dict(parity_path, check=False, verbose=False)
