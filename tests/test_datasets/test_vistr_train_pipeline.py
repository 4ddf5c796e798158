"""The VisTR recipe (configs/_base_/datasets/youtube_vis_2019_vistr.py, toy_vis_vistr.py) on real toy_vis
clips: clip-shared geometry, per-frame photometry, repeated frames, every instance kept through the crop."""
from __future__ import annotations

import copy
import os.path as osp
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmdet.datasets')

import mmseqformer.datasets  # noqa: E402,F401  (registers the components)
from mmdet.registry import DATASETS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402

from mmseqformer.models.utils.video_targets import build_video_targets  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASET_CONFIGS = osp.join(REPO, 'configs', '_base_', 'datasets')


def _config(name: str = 'youtube_vis_2019_vistr.py') -> Config:
    return Config.fromfile(osp.join(DATASET_CONFIGS, name))


def _dataset(root: str, num_frames: int, photometric: bool = True, crop_size: Any = None) -> Any:
    """ToyVISDataset with the recipe's train pipeline (clip length, crop size overridable); PackTrackInputs
    also packs the per-frame homography."""
    steps = copy.deepcopy(_config().train_pipeline)
    assert steps[0]['type'] == 'ClipEndingAtFrameSample' and steps[-1]['type'] == 'PackTrackInputs'
    steps[0]['num_frames'] = num_frames
    steps[-1] = dict(type='PackTrackInputs', meta_keys=('homography_matrix', ))
    if not photometric:
        steps = [s for s in steps if s['type'] != 'TransformBroadcaster' or s['share_random_params']]
    if crop_size is not None:
        crop = [t for s in steps if s['type'] == 'TransformBroadcaster' for t in s['transforms']
                if t['type'] == 'RandomCropKeepInstances']
        crop[0]['crop_size'] = crop_size
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(dict(type='ToyVISDataset', data_root=root, ann_file='annotations/toy_vis_train.json',
                                   data_prefix=dict(img_path='train/JPEGImages'),
                                   filter_cfg=dict(filter_empty_gt=False, min_size=0), pipeline=steps))


def _frames(out: Dict[str, Any]) -> List[Any]:
    samples = out['data_samples']
    return [samples[i] for i in range(len(samples))]


def _annotations(frame: Any) -> Dict[str, np.ndarray]:
    gt = frame.gt_instances
    return dict(boxes=gt.bboxes.numpy(), masks=gt.masks.masks.astype(bool), ids=gt.instances_ids.numpy(),
                labels=gt.labels.numpy())


def test_recipe_config() -> None:
    cfg = _config()
    types = [s['type'] for s in cfg.train_pipeline]
    assert types == ['ClipEndingAtFrameSample', 'TransformBroadcaster', 'TransformBroadcaster',
                     'TransformBroadcaster', 'SkipEmptyClip', 'PackTrackInputs']
    assert cfg.train_pipeline[0]['num_frames'] == 36 and cfg.train_pipeline[0]['cyclic']
    first, photometric, last = cfg.train_pipeline[1:4]
    assert first['share_random_params'] and last['share_random_params']
    assert not photometric['share_random_params']
    assert [t['type'] for t in photometric['transforms']] == ['PhotoMetricDistortion']
    assert [t['type'] for t in first['transforms']] == ['LoadImageFromFile', 'LoadTrackAnnotations', 'RandomFlip',
                                                        'RandomChoiceResize']
    assert first['transforms'][2]['prob'] == 0.5
    assert first['transforms'][3]['scales'] == [(800, s) for s in range(480, 769, 32)]
    resize, crop, final = last['transforms']
    assert resize['type'] == 'RandomChoiceResize' and resize['scales'] == [(100000, s) for s in (400, 500, 600)]
    assert crop == dict(type='RandomCropKeepInstances', crop_size=(384, 600), crop_type='absolute_range')
    assert final == dict(type='Resize', scale=(540, 300), keep_ratio=True)
    loader = cfg.train_dataloader
    assert loader.batch_size == 1 and loader.sampler.type == 'TrackImgSampler'
    assert loader.dataset.filter_cfg == dict(filter_empty_gt=False, min_size=0)
    test_steps = cfg.test_pipeline[0]['transforms']
    assert [s for s in test_steps if s['type'] == 'Resize'] == [dict(type='Resize', scale=(100000, 300),
                                                                     keep_ratio=True)]
    assert not any('Pad' in s['type'] or 'Sample' in s['type'] for s in test_steps)
    assert cfg.val_dataloader.dataset.test_mode and cfg.val_dataloader.sampler.type == 'DefaultSampler'
    y21 = _config('youtube_vis_2021_vistr.py')
    assert y21.train_pipeline == cfg.train_pipeline
    for loader in (y21.train_dataloader, y21.val_dataloader, y21.test_dataloader):
        assert loader.dataset.dataset_version == '2021' and loader.dataset.data_root == 'data/youtube_vis_2021/'
    assert y21.train_dataloader.dataset.ann_file == 'annotations/youtube_vis_2021_train.json'
    assert y21.test_dataloader.dataset.ann_file == 'annotations/youtube_vis_2021_valid.json'


def _shortest_video(ds: Any) -> int:
    return min(range(len(ds)), key=ds.get_len_per_video)


@pytest.mark.parametrize('photometric', [True, False])
def test_repeated_frames_keep_annotations_and_get_own_photometry(toy_vis_small: str, photometric: bool) -> None:
    """A clip longer than its video repeats frames: a repeat has the same instances, boxes and masks; its
    pixels differ only through the per-frame photometric distortion."""
    ds = _dataset(toy_vis_small, num_frames=1, photometric=photometric)
    video = _shortest_video(ds)
    n = ds.get_len_per_video(video)
    t = n + 3
    ds.pipeline.transforms[0].num_frames = t
    repeats, distinct = 0, 0
    for seed in range(4):
        np.random.seed(seed)
        out = ds[(video, n - 1)]
        frames = _frames(out)
        frame_ids = [f.frame_id for f in frames]
        assert frame_ids == [n - 3, n - 2, n - 1] + list(range(n))
        for i in range(3):
            first, again = _annotations(frames[i]), _annotations(frames[n + i])
            for key, value in first.items():
                np.testing.assert_array_equal(again[key], value, err_msg=key)
            assert len(first['ids'])  # toy frames always hold an instance
            repeats += 1
            distinct += not torch.equal(out['inputs'][i], out['inputs'][n + i])
    assert distinct >= 0.9 * repeats if photometric else distinct == 0


def _expected_box(box: np.ndarray, matrix: np.ndarray, h: int, w: int) -> np.ndarray:
    corners = np.array([[box[0], box[1], 1], [box[2], box[3], 1]], np.float64) @ matrix.T
    xs, ys = corners[:, 0] / corners[:, 2], corners[:, 1] / corners[:, 2]
    return np.clip([xs.min(), ys.min(), xs.max(), ys.max()], 0, [w, h, w, h])


def _check_frame(frame: Any, original: Dict[str, Any], labels: Dict[int, int], ious: List[float]) -> int:
    """Asserts one packed frame against its source frame; returns how many boxes are zero-area."""
    h, w = frame.img_shape
    ann = _annotations(frame)
    by_id = {inst['instance_id']: inst for inst in original['instances']}
    # nothing is dropped, however the crop fell
    assert sorted(ann['ids'].tolist()) == sorted(by_id) and ann['masks'].shape[1:] == (h, w)
    zero_area = 0
    for box, mask, iid, label in zip(ann['boxes'], ann['masks'], ann['ids'], ann['labels']):
        assert label == labels[iid]
        np.testing.assert_allclose(box, _expected_box(np.asarray(by_id[iid]['bbox']), frame.homography_matrix,
                                                      h, w), atol=1.0)
        if (box[2] - box[0]) * (box[3] - box[1]) == 0:
            zero_area += 1
            assert mask.sum() <= 2 * max(box[2] - box[0], box[3] - box[1], 1)  # at most a sliver on the border
        warped = cv2.warpPerspective(mask_utils.decode(by_id[iid]['mask']), frame.homography_matrix.astype(float),
                                     (w, h), flags=cv2.INTER_NEAREST).astype(bool)
        if warped.sum() >= 200:
            ious.append((warped & mask).sum() / (warped | mask).sum())
    return zero_area


def test_clip_shared_geometry_and_boxes_after_the_crop(toy_vis_small: str) -> None:
    """Every frame shares flip, resizes and crop (one homography, one size); the final short side is 300 (long
    side <= 540); every instance of a frame is kept, with its box mapped and clamped to the window."""
    ds = _dataset(toy_vis_small, num_frames=4)
    ious: List[float] = []
    shapes, flips, offsets = set(), set(), 0
    for seed in range(12):
        np.random.seed(seed)
        video = seed % len(ds)
        info = ds.get_data_info(video)
        labels = {inst['instance_id']: inst['bbox_label'] for img in info['images'] for inst in img['instances']}
        out = ds[(video, seed % len(info['images']))]
        frames = _frames(out)
        assert len({f.img_shape for f in frames}) == 1 and len({f.flip for f in frames}) == 1
        for frame in frames[1:]:
            np.testing.assert_array_equal(frame.homography_matrix, frames[0].homography_matrix)
        h, w = frames[0].img_shape
        assert min(h, w) == 300 and max(h, w) <= 540
        for frame in frames:
            _check_frame(frame, info['images'][frame.frame_id], labels, ious)
        shapes.add((h, w))
        flips.add(frames[0].flip)
        offsets += bool(np.any(frames[0].homography_matrix[:2, 2] < 0))
    assert flips == {True, False} and len(shapes) > 4 and offsets >= 10  # the crop always runs
    assert len(ious) > 20 and np.mean(ious) > 0.9


def test_instances_outside_the_crop_stay_valid_targets(toy_vis_small: str) -> None:
    """With a small window many instances fall outside: they stay (zero-area box, empty mask, same label), and
    build_video_targets gives them as valid frames of their track, as the official crop does."""
    ds = _dataset(toy_vis_small, num_frames=3, crop_size=(64, 96))
    ious: List[float] = []
    zero_area = 0
    for seed in range(10):
        np.random.seed(seed)
        video = seed % len(ds)
        info = ds.get_data_info(video)
        labels = {inst['instance_id']: inst['bbox_label'] for img in info['images'] for inst in img['instances']}
        out = ds[(video, 0)]
        frames = _frames(out)
        zero_area += sum(_check_frame(f, info['images'][f.frame_id], labels, ious) for f in frames)
        targets = build_video_targets(out['data_samples'])
        for t, frame in enumerate(frames):
            present = set(frame.gt_instances.instances_ids.tolist())
            valid = {int(i) for i, v in zip(targets.instances_ids, targets.valid[:, t]) if v}
            assert valid == present
        assert torch.isfinite(targets.bboxes).all() and (targets.bboxes > 0).all()
    assert zero_area > 5


def test_toy_recipe_packs_a_clip(toy_vis_small: str) -> None:
    """toy_vis_vistr.py: the same chain as the YouTube-VIS recipe with toy sizes, on the toy files."""
    toy, ytvis = _config('toy_vis_vistr.py'), _config()
    assert [s['type'] for s in toy.train_pipeline] == [s['type'] for s in ytvis.train_pipeline]
    for toy_step, ytvis_step in zip(toy.train_pipeline[1:4], ytvis.train_pipeline[1:4]):
        assert [t['type'] for t in toy_step['transforms']] == [t['type'] for t in ytvis_step['transforms']]
        assert toy_step['share_random_params'] == ytvis_step['share_random_params']
    assert toy.train_dataloader.sampler == dict(type='TrackImgSampler') and toy.train_dataloader.batch_size == 1
    loader = copy.deepcopy(toy.train_dataloader.dataset)
    loader.update(data_root=toy_vis_small)
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(loader)
    np.random.seed(0)
    out = ds[(3, 1)]
    n = ds.get_len_per_video(3)
    frames = _frames(out)
    assert [f.frame_id for f in frames] == [(1 - 7 + j) % n for j in range(8)]
    assert out['inputs'].shape[:2] == (8, 3) and min(out['inputs'].shape[2:]) == 192
    assert max(out['inputs'].shape[2:]) <= 320
    assert toy.test_pipeline[0]['transforms'][1] == dict(type='Resize', scale=(100000, 192), keep_ratio=True)


def test_toy_vistr_config_draws_a_clip_shared_final_short_side(toy_vis_small: str) -> None:
    """The toy VisTR config (configs/vistr/vistr_mbv2-toy_1xb1-8500i_toy.py) ends its chain with a random short
    side of 160..224 (long side <= 5/3 of it) shared by the clip's frames; it tests at 192."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'vistr', 'vistr_mbv2-toy_1xb1-8500i_toy.py'))
    loader = copy.deepcopy(cfg.train_dataloader.dataset)
    loader.update(data_root=toy_vis_small)
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(loader)
    np.random.seed(0)
    shorts = set()
    for i in range(24):
        out = ds[(i % 3, i % 5)]
        assert out['inputs'].shape[:2] == (3, 3)  # 3 frames, one size for the clip
        h, w = out['inputs'].shape[2:]
        short = min(h, w)
        assert short in (160, 176, 192, 208, 224) or max(h, w) in (266, 293, 320, 346, 373)
        shorts.add(short)
    assert len(shorts) >= 3
    assert cfg.test_pipeline[0]['transforms'][1] == dict(type='Resize', scale=(100000, 192), keep_ratio=True)
