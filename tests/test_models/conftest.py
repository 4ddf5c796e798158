"""Fixtures for model tests: the official parity vectors and models built from the project configs."""
import os.path as osp

import pytest
import torch

from ..conftest import REPO

R50_CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_r50_8xb2-12e_youtubevis2019.py')


def build_model(config: str = R50_CONFIG, **model_overrides) -> torch.nn.Module:
    """Build the model section of a project config (registers mmseqformer through custom_imports)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS

    import mmseqformer  # noqa: F401

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    cfg.merge_from_dict(dict(model=model_overrides))  # nested dicts merge into the config's
    return MODELS.build(cfg.model)


@pytest.fixture(scope='session')
def converted_r50(official_state_dict):
    """R50 with 40 classes carrying the converted official parity weights, eval mode."""
    from mmseqformer.models.utils import convert_official_state_dict

    model = build_model()
    model.load_state_dict(convert_official_state_dict(official_state_dict), strict=True)
    return model.eval()


def tiny_model(num_classes: int = 5, num_query_groups: int = 1, **track_head) -> torch.nn.Module:
    """A small SeqFormer (ResNet-18, 64 dims, 2+2 layers, 12 queries) for fast unit tests."""
    dims = 64
    head = dict(num_classes=num_classes, embed_dims=dims, num_pred_layer=2,
                mask_head=dict(type='SeqFormerMaskHead', embed_dims=dims))
    head.update(track_head)
    layer_attn = dict(embed_dims=dims, num_heads=8, num_levels=4, num_points=2, batch_first=True)
    ffn = dict(embed_dims=dims, feedforward_channels=128, ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))
    torch.manual_seed(0)
    model = build_model(
        num_queries=12,
        num_query_groups=num_query_groups,
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=1,
                            norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                            init_cfg=None),
        neck=dict(type='ChannelMapper', in_channels=[128, 256, 512], kernel_size=1, out_channels=dims,
                        act_cfg=None, norm_cfg=dict(type='GN', num_groups=32), bias=True, num_outs=4),
        encoder=dict(num_layers=2, layer_cfg=dict(self_attn_cfg=dict(layer_attn, dropout=0.1),
                                                        ffn_cfg=ffn)),
        decoder=dict(num_layers=2, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=dims, num_heads=8, dropout=0.1, batch_first=True),
            cross_attn_cfg=layer_attn, ffn_cfg=dict(ffn, num_fcs=2))),
        positional_encoding=dict(num_feats=dims // 2, normalize=True, offset=-0.5),
        track_head=dict(head))
    model.init_weights()
    return model
