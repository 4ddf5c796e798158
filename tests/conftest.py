"""Shared pytest fixtures."""
from __future__ import annotations

import os.path as osp

import pytest


@pytest.fixture(scope='session')
def toy_vis_small(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small toy_vis set (16 train / 4 valid videos, seed 0); the folder path. Do not modify it."""
    from mmseqformer.datasets.toy_vis_generator import generate_toy_vis
    return generate_toy_vis(osp.join(str(tmp_path_factory.mktemp('toy_vis_small')), 'toy_vis'), seed=0,
                            num_train=16, num_valid=4)


@pytest.fixture(scope='session')
def toy_vis_default(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The default toy_vis set (48 train / 12 valid videos, seed 0); the folder path. Do not modify it."""
    from mmseqformer.datasets.toy_vis_generator import generate_toy_vis
    return generate_toy_vis(osp.join(str(tmp_path_factory.mktemp('toy_vis_default')), 'toy_vis'), seed=0)
