"""COCO joint training: category mapping/filtering (CocoPseudoVideoDataset) and pseudo clips
(ImageToClip)."""
from __future__ import annotations

import copy
import json
import os.path as osp
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest

pytest.importorskip('mmdet.datasets')

import mmseqformer.datasets  # noqa: E402,F401  (registers the components)
from mmdet.datasets import YouTubeVISDataset  # noqa: E402
from mmdet.registry import DATASETS  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import ConcatDataset  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from mmseqformer.datasets import (CocoPseudoVideoDataset, ImageToClip, ToyVISDataset,  # noqa: E402
                                  masks_to_boxes, youtube_vis_classes)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASET_CONFIGS = osp.join(REPO, 'configs', '_base_', 'datasets')
COCO2YTVIS19 = Config.fromfile(osp.join(DATASET_CONFIGS, 'coco2ytvis2019.py')).coco2ytvis2019
COCO2YTVIS21 = Config.fromfile(osp.join(DATASET_CONFIGS, 'coco2ytvis2021.py')).coco2ytvis2021
# COCO names of the mapped COCO category ids
COCO_NAMES = {1: 'person', 2: 'bicycle', 3: 'car', 4: 'motorcycle', 5: 'airplane', 7: 'train', 8: 'truck', 9: 'boat',
              16: 'bird', 17: 'cat', 18: 'dog', 19: 'horse', 21: 'cow', 22: 'elephant', 23: 'bear', 24: 'zebra',
              25: 'giraffe', 36: 'snowboard', 41: 'skateboard', 42: 'surfboard', 43: 'tennis racket', 74: 'mouse'}


@pytest.mark.parametrize('version,table,renamed', [
    ('2019', COCO2YTVIS19, {'bicycle': 'motorbike', 'motorcycle': 'motorbike', 'car': 'sedan', 'mouse': 'fox'}),
    ('2021', COCO2YTVIS21, {'bicycle': 'motorbike', 'motorcycle': 'motorbike'}),
])
def test_official_category_tables(version: str, table: Dict[int, int], renamed: Dict[str, str]) -> None:
    classes = youtube_vis_classes(version)
    assert len(classes) == 40 and set(table) <= set(COCO_NAMES)
    for coco_id, target in table.items():
        name = COCO_NAMES[coco_id]
        # same name up to the spelling, except the official renames (2019 "mouse" -> "fox" is its quirk)
        assert classes[target - 1] == renamed.get(name, name.replace(' ', '_')), (coco_id, target)


def _polygon(x: float, y: float, w: float, h: float) -> List[List[float]]:
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def _ann(ann_id: int, img_id: int, cat: int, box: List[float], crowd: int = 0) -> Dict[str, Any]:
    return dict(id=ann_id, image_id=img_id, category_id=cat, bbox=box, area=box[2] * box[3], iscrowd=crowd,
                segmentation=_polygon(*box))


@pytest.fixture(scope='module')
def coco_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small COCO set: 5 JPEG images (96x128), categories mapped and not, crowds, too many instances."""
    root = str(tmp_path_factory.mktemp('coco'))
    rng = np.random.default_rng(0)
    images, anns = [], []

    def add(img_id: int, boxes: List[List[float]], cats: List[int], crowds: List[int] = None) -> None:
        name = f'{img_id:06d}.jpg'
        cv2.imwrite(osp.join(root, name), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
        images.append(dict(id=img_id, file_name=name, height=96, width=128))
        for box, cat, crowd in zip(boxes, cats, crowds or [0] * len(cats)):
            anns.append(_ann(len(anns) + 1, img_id, cat, box, crowd))

    # person, car, an unmapped traffic light and a crowd of persons: keeps person and car
    add(1, [[10, 10, 30, 40], [50, 20, 40, 30], [100, 5, 10, 20], [0, 60, 60, 30]], [1, 3, 10, 1], [0, 0, 0, 1])
    add(2, [[10, 10, 30, 40]], [10])  # nothing mapped
    add(3, [[4 * i, 4 * (i % 2), 3, 3] for i in range(26)], [1] * 26)  # 26 instances: too many
    add(4, [[4 * i, 4 * (i % 2), 3, 3] for i in range(25)] + [[0, 50, 50, 40]] * 3, [1] * 28, [0] * 25 + [1] * 3)
    # bicycle, computer mouse, and a person with a degenerate box
    add(5, [[20, 20, 50, 50], [80, 40, 20, 20], [5, 5, 0.5, 30]], [2, 74, 1])
    cats = [dict(id=i, name=n) for i, n in ((1, 'person'), (2, 'bicycle'), (3, 'car'), (10, 'traffic light'),
                                            (74, 'mouse'))]
    with open(osp.join(root, 'instances.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=cats), f)
    return root


def _coco_dataset(root: str, pipeline: List[Any] = [], **kwargs: Any) -> CocoPseudoVideoDataset:
    cfg = dict(type='CocoPseudoVideoDataset', dataset_version='2019', cat_map=COCO2YTVIS19,
               ann_file=osp.join(root, 'instances.json'), data_prefix=dict(img_path=root), pipeline=pipeline)
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(cfg)


def test_category_mapping_and_filtering(coco_dir: str) -> None:
    saved = YouTubeVISDataset.__dict__.get('METAINFO')
    ds = _coco_dataset(coco_dir)
    assert YouTubeVISDataset.__dict__.get('METAINFO') is saved  # no class-level side effect
    assert ds.metainfo['classes'] == youtube_vis_classes('2019')
    videos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [v['video_id'] for v in videos] == [1, 4, 5]
    for v in videos:
        assert v['video_length'] == 1 and len(v['images']) == 1
        frame = v['images'][0]
        assert frame['img_path'] == osp.join(coco_dir, f'{v["video_id"]:06d}.jpg') and frame['frame_id'] == 0
        assert [i['instance_id'] for i in frame['instances']] == list(range(1, len(frame['instances']) + 1))
        assert all(i['ignore_flag'] == 0 for i in frame['instances'])
    labels = [[i['bbox_label'] for i in v['images'][0]['instances']] for v in videos]
    # person -> 0, car -> sedan 5; 25 persons; bicycle -> motorbike 20, mouse -> 23 (the official table)
    assert labels == [[0, 5], [0] * 25, [20, 23]]
    assert videos[0]['images'][0]['instances'][1]['bbox'] == [50, 20, 90, 50]
    # the bounds are configurable
    small = _coco_dataset(coco_dir, max_instances=2)
    assert [small.get_data_info(i)['video_id'] for i in range(len(small))] == [1, 5]


def test_bad_cat_map(coco_dir: str) -> None:
    with pytest.raises(ValueError, match='outside 1..40'):
        _coco_dataset(coco_dir, cat_map={1: 41})
    with pytest.raises(ValueError, match='target classes'):
        _coco_dataset(coco_dir, dataset_version=None)
    # keys may arrive as strings (json) or as pairs
    assert _coco_dataset(coco_dir, cat_map={'1': 1}).cat_map == _coco_dataset(coco_dir, cat_map=[(1, 1)]).cat_map


def _frame(h: int = 96, w: int = 128) -> Dict[str, Any]:
    rng = np.random.default_rng(1)
    masks = np.zeros((2, h, w), np.uint8)
    masks[0, 30:60, 40:70] = 1  # in the middle
    masks[1, 40:50, w - 6:] = 1  # at the right border
    return dict(img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8), img_shape=(h, w), ori_shape=(h, w),
                img_id=3, img_path='x.jpg', frame_id=0, video_id=3, video_length=1, ori_video_length=1,
                gt_masks=BitmapMasks(masks, h, w), gt_bboxes=masks_to_boxes(masks),
                gt_bboxes_labels=np.array([4, 7]), gt_instances_ids=np.array([5, 9], np.int32),
                gt_ignore_flags=np.zeros(2, bool))


def test_pseudo_clip_format_and_boxes() -> None:
    frame = _frame()
    np.random.seed(0)
    out = ImageToClip(num_frames=5)(copy.deepcopy(frame))
    assert all(len(v) == 5 for v in out.values())
    assert out['frame_id'] == list(range(5)) and out['video_length'] == [5] * 5 and out['ori_video_length'] == [5] * 5
    assert out['img_id'] == [3] * 5 and sum(out['key_frame_flags']) == 1
    key = out['key_frame_flags'].index(True)
    assert np.array_equal(out['img'][key], frame['img'])
    assert np.array_equal(out['gt_masks'][key].masks, frame['gt_masks'].masks)
    changed = 0
    for t in range(5):
        masks = out['gt_masks'][t].masks
        assert masks.shape[1:] == (96, 128) and out['img'][t].shape == (96, 128, 3)
        assert masks.reshape(len(masks), -1).any(1).all()  # absent instances are removed
        np.testing.assert_array_equal(out['gt_bboxes'][t], masks_to_boxes(masks))
        for iid, label in zip(out['gt_instances_ids'][t], out['gt_bboxes_labels'][t]):
            assert {5: 4, 9: 7}[iid] == label
        assert not out['gt_ignore_flags'][t].any()
        changed += not np.array_equal(out['img'][t], frame['img'])
    assert changed == 4
    # the same clip again from the same seed, also from the dict-of-lists layout of the broadcast loader
    np.random.seed(0)
    again = ImageToClip(num_frames=5)({k: [v] for k, v in copy.deepcopy(frame).items()})
    for t in range(5):
        assert np.array_equal(again['img'][t], out['img'][t])
        assert np.array_equal(again['gt_masks'][t].masks, out['gt_masks'][t].masks)


def test_frames_are_shuffled() -> None:
    positions = set()
    for seed in range(10):
        np.random.seed(seed)
        out = ImageToClip(num_frames=5, color_jitter=False, motion_blur_prob=0)(_frame())
        positions.add(out['key_frame_flags'].index(True))
    assert len(positions) >= 3
    out = ImageToClip(num_frames=5, shuffle=False)(_frame())
    assert out['key_frame_flags'] == [True, False, False, False, False]


def test_instance_leaving_the_frame_is_absent() -> None:
    transform = ImageToClip(num_frames=3, color_jitter=False, motion_blur_prob=0, shuffle=False)
    shift = np.array([[1, 0, 20], [0, 1, 0], [0, 0, 1]], np.float64)
    transform.sample_homography = lambda h, w: shift  # 20 px to the right: the border instance leaves
    frame = _frame()
    out = transform(copy.deepcopy(frame))
    assert out['gt_instances_ids'][0].tolist() == [5, 9]
    for t in (1, 2):
        assert out['gt_instances_ids'][t].tolist() == [5] and out['gt_bboxes_labels'][t].tolist() == [4]
        np.testing.assert_array_equal(out['gt_bboxes'][t], [[60, 30, 90, 60]])  # (40, 30, 70, 60) + 20
        assert np.array_equal(out['img'][t][:, 20:], frame['img'][:, :-20]) and not out['img'][t][:, :20].any()


def test_no_instances() -> None:
    frame = _frame()
    for key in ('gt_bboxes_labels', 'gt_instances_ids', 'gt_ignore_flags', 'gt_bboxes'):
        frame[key] = frame[key][:0]
    frame['gt_masks'] = frame['gt_masks'][[]]
    out = ImageToClip(num_frames=4)(frame)
    assert [len(m) for m in out['gt_masks']] == [0] * 4 and [b.shape for b in out['gt_bboxes']] == [(0, 4)] * 4


def _joint_config() -> Config:
    return Config.fromfile(osp.join(DATASET_CONFIGS, 'youtube_vis_2019_coco_joint.py'))


def test_joint_config() -> None:
    cfg = _joint_config()
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'ConcatDataset' and len(dataset.datasets) == 2
    ytvis, coco = dataset.datasets
    assert ytvis.type == 'RepeatDataset' and ytvis.dataset.type == 'YouTubeVISDataset'
    assert ytvis.dataset.ann_file == 'annotations/youtube_vis_2019_train.json'
    assert coco.type == 'CocoPseudoVideoDataset' and coco.cat_map == COCO2YTVIS19 and coco.max_instances == 25
    types = [s['type'] for s in coco.pipeline]
    assert types[:3] == ['BaseFrameSample', 'TransformBroadcaster', 'ImageToClip']
    assert 'PhotoMetricDistortion' not in str(coco.pipeline) and 'PhotoMetricDistortion' in str(ytvis.dataset.pipeline)


def test_concat_with_a_video_dataset(coco_dir: str, toy_vis_small: str) -> None:
    """The pseudo clips concatenate with a video set (same metainfo) and pack like its clips."""
    pipeline = copy.deepcopy(_joint_config().train_dataloader.dataset.datasets[1].pipeline)
    # the video set's metainfo (classes and palette): ConcatDataset requires equal metainfo
    coco = _coco_dataset(coco_dir, pipeline, dataset_version=None, metainfo=copy.deepcopy(ToyVISDataset.METAINFO),
                         cat_map={1: 1, 2: 2, 3: 3, 74: 4})
    toy_pipeline = Config.fromfile(osp.join(DATASET_CONFIGS, 'toy_vis.py')).train_pipeline
    with DefaultScope.overwrite_default_scope('mmdet'):
        toy = DATASETS.build(dict(type='ToyVISDataset', data_root=toy_vis_small,
                                  ann_file='annotations/toy_vis_train.json',
                                  data_prefix=dict(img_path='train/JPEGImages'), pipeline=toy_pipeline))
    joint = ConcatDataset([toy, coco])
    assert len(joint) == len(toy) + 3
    np.random.seed(0)
    for idx in (0, len(toy), len(toy) + 2):
        out = joint[idx]
        samples = out['data_samples']
        assert out['inputs'].shape[:2] == (5, 3) and len(samples) == 5 and len(samples.key_frames_inds) == 1
        ids = {int(i) for t in range(5) for i in samples[t].gt_instances.instances_ids}
        assert ids
        for t in range(5):
            gt = samples[t].gt_instances
            assert gt.masks.masks.shape[1:] == tuple(out['inputs'].shape[2:])
            assert len(gt.bboxes) == len(gt.labels) == len(gt.instances_ids) == len(gt.masks)
    coco_out = joint[len(toy)]['data_samples']  # image 1: person (label 0) and car (label 2)
    labels = {int(i): int(lbl) for t in range(5)
              for i, lbl in zip(coco_out[t].gt_instances.instances_ids, coco_out[t].gt_instances.labels)}
    assert labels == {1: 0, 2: 2}
