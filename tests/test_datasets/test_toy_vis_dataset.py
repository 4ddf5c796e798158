"""ToyVISDataset: registry round trip and agreement with the official toy_vis json."""
from __future__ import annotations

import json
import os.path as osp
from typing import Any, Dict

import numpy as np
import pytest
from pycocotools import mask as mask_utils

pytest.importorskip('mmdet.datasets')

import mmseqformer.datasets  # noqa: E402,F401  (registers ToyVISDataset)
from mmdet.datasets import YouTubeVISDataset  # noqa: E402
from mmdet.registry import DATASETS  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from mmseqformer.datasets import TOY_VIS_CLASSES, ToyVISDataset  # noqa: E402


def _build(root: str, split: str, **kwargs: Any) -> ToyVISDataset:
    cfg = dict(type='ToyVISDataset', data_root=root, ann_file=f'annotations/toy_vis_{split}.json',
               data_prefix=dict(img_path=f'{split}/JPEGImages'), pipeline=[])
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def _official(root: str, split: str) -> Dict[str, Any]:
    with open(osp.join(root, 'annotations', f'toy_vis_{split}_ytvis.json')) as f:
        return json.load(f)


@pytest.mark.parametrize('split,test_mode', [('train', False), ('train', True), ('valid', True)])
def test_matches_official(toy_vis_small: str, split: str, test_mode: bool) -> None:
    ds = _build(toy_vis_small, split, test_mode=test_mode)
    assert type(ds) is ToyVISDataset
    assert ds.metainfo['classes'] == TOY_VIS_CLASSES and len(ds.metainfo['palette']) == len(TOY_VIS_CLASSES)
    official = _official(toy_vis_small, split)
    videos = {v['id']: v for v in official['videos']}
    anns = {a['id']: a for a in official['annotations']}
    assert len(ds) == len(videos)
    owner: Dict[int, Any] = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        video = videos[info['video_id']]
        # every toy_vis frame holds an instance, so even the training filter keeps all frames
        assert info['video_length'] == len(info['images']) == video['length']
        for frame_id, img in enumerate(info['images']):
            assert img['frame_id'] == frame_id
            assert img['img_path'] == osp.join(toy_vis_small, split, 'JPEGImages', video['file_names'][frame_id])
            assert osp.isfile(img['img_path'])
            present = [a for a in anns.values() if a['video_id'] == video['id'] and a['bboxes'][frame_id]]
            assert len(img['instances']) == len(present) > 0
            for inst in img['instances']:
                key = (info['video_id'], inst['bbox_label'])
                assert owner.setdefault(inst['instance_id'], key) == key
                mask = mask_utils.decode(inst['mask']).astype(bool)
                assert mask.shape == (video['height'], video['width'])
                ys, xs = np.nonzero(mask)
                assert inst['bbox'] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
                assert inst['ignore_flag'] == 0
    # one instance id per official annotation, each with its category
    assert len(owner) == len(anns)
    assert sorted(label + 1 for _, label in owner.values()) == sorted(a['category_id'] for a in anns.values())


def test_keeps_own_classes(toy_vis_small: str) -> None:
    # building a YouTube-VIS dataset rewrites YouTubeVISDataset.METAINFO; ToyVISDataset must not follow
    saved = YouTubeVISDataset.__dict__.get('METAINFO')
    try:
        YouTubeVISDataset.set_dataset_classes('2021')
        ds = _build(toy_vis_small, 'valid', dataset_version='2019', lazy_init=True)
        assert ds.metainfo['classes'] == TOY_VIS_CLASSES
        assert ToyVISDataset.METAINFO['classes'] == TOY_VIS_CLASSES
    finally:
        if saved is None:
            del YouTubeVISDataset.METAINFO
        else:
            YouTubeVISDataset.METAINFO = saved


def test_pipeline_loads_video(toy_vis_small: str) -> None:
    pipeline = [dict(type='TransformBroadcaster', transforms=[dict(type='LoadImageFromFile'),
                                                              dict(type='LoadTrackAnnotations', with_mask=True)]),
                dict(type='PackTrackInputs')]
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = _build(toy_vis_small, 'valid', test_mode=True, pipeline=pipeline)
        out = ds[0]
    info = ds.get_data_info(0)
    sample = out['data_samples']
    assert len(sample) == info['video_length']
    assert tuple(out['inputs'].shape[-2:]) == (info['images'][0]['height'], info['images'][0]['width'])
    for frame, img in zip(sample, info['images']):
        assert len(frame.gt_instances) == len(img['instances'])
        masks = frame.gt_instances.masks.to_ndarray()
        expected = np.stack([mask_utils.decode(i['mask']) for i in img['instances']])
        assert np.array_equal(masks, expected)
