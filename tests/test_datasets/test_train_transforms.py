"""The broadcast training pipelines of the dataset configs: shared geometry, per-frame photometry."""
from __future__ import annotations

import copy
import json
import os.path as osp
from typing import Any, Callable, Dict, List

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmdet.datasets')

import mmseqformer.datasets  # noqa: E402,F401  (registers the components)
from mmcv.transforms import Compose, RandomChoice  # noqa: E402
from mmdet.registry import DATASETS, TRANSFORMS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402

from mmseqformer.datasets import OVIS_CLASSES, SkipEmptyClip  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASET_CONFIGS = osp.join(REPO, 'configs', '_base_', 'datasets')
CONFIGS = ['toy_vis.py', 'youtube_vis_2019.py']


def _config(name: str) -> Config:
    return Config.fromfile(osp.join(DATASET_CONFIGS, name))


def _is_photometric(step: Dict[str, Any]) -> bool:
    return step['type'] == 'TransformBroadcaster' and not step.get('share_random_params', False)


def _pipeline(name: str, photometric: bool = True) -> Compose:
    """The config's train pipeline; PackTrackInputs also packs the per-frame homography."""
    steps = copy.deepcopy(_config(name).train_pipeline)
    steps = [s for s in steps if photometric or not _is_photometric(s)]
    assert steps[-1]['type'] == 'PackTrackInputs'
    steps[-1] = dict(type='PackTrackInputs', meta_keys=('homography_matrix', ))
    with DefaultScope.overwrite_default_scope('mmdet'):
        return Compose(steps)


def _toy_dataset(root: str, pipeline: List[Any] = []) -> Any:
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(dict(type='ToyVISDataset', data_root=root, ann_file='annotations/toy_vis_train.json',
                                   data_prefix=dict(img_path='train/JPEGImages'), pipeline=pipeline))


def _still_video(info: Dict[str, Any], n: int = 8) -> Dict[str, Any]:
    """A video whose ``n`` frames are all the first frame of ``info``."""
    frame = info['images'][0]
    images = [dict(copy.deepcopy(frame), frame_id=i) for i in range(n)]
    return dict(video_id=info['video_id'], video_length=n, images=images)


def _frames(out: Dict[str, Any]) -> List[Any]:
    samples = out['data_samples']
    return [samples[i] for i in range(len(samples))]


def _geometry(frame: Any) -> Dict[str, Any]:
    gt = frame.gt_instances
    boxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else torch.as_tensor(gt.bboxes)
    return dict(boxes=boxes.numpy(), masks=gt.masks.masks.astype(bool), ids=gt.instances_ids.numpy(),
                labels=gt.labels.numpy(), shape=frame.img_shape, flip=frame.flip, scale=frame.scale_factor,
                homography=frame.homography_matrix)


def _assert_same_geometry(frames: List[Any]) -> None:
    first = _geometry(frames[0])
    for frame in frames[1:]:
        other = _geometry(frame)
        for key, value in first.items():
            np.testing.assert_array_equal(np.asarray(other[key]), np.asarray(value), err_msg=key)


@pytest.mark.parametrize('name', CONFIGS)
def test_still_video_gives_identical_frames(toy_vis_small: str, name: str) -> None:
    """Without the photometric step, every frame of a still video must come out pixel-identical: same flip,
    same resize scale, same crop window (the crop offset is visible in the image)."""
    pipeline = _pipeline(name, photometric=False)
    info = _toy_dataset(toy_vis_small).get_data_info(1)
    flips, crops, shapes = set(), 0, set()
    for seed in range(16):
        np.random.seed(seed)
        out = pipeline(_still_video(info))
        if out is None:  # the crop removed every instance: the dataset would draw another clip
            continue
        frames = _frames(out)
        assert out['inputs'].shape[0] == 5
        for t in range(1, 5):
            assert torch.equal(out['inputs'][t], out['inputs'][0])
        _assert_same_geometry(frames)
        flips.add(frames[0].flip)
        crops += frames[0].homography_matrix[1, 2] < 0  # a vertical crop offset: only the crop branch has it
        shapes.add(frames[0].img_shape)
    assert flips == {True, False} and crops > 0 and len(shapes) > 3


@pytest.mark.parametrize('name', CONFIGS)
def test_photometric_distortion_is_per_frame(toy_vis_small: str, name: str) -> None:
    pipeline = _pipeline(name)
    info = _toy_dataset(toy_vis_small).get_data_info(2)
    distinct = []
    for seed in range(6):
        np.random.seed(seed)
        out = pipeline(_still_video(info))
        if out is None:
            continue
        _assert_same_geometry(_frames(out))
        images = out['inputs']
        distinct.append(len({images[t].numpy().tobytes() for t in range(len(images))}))
    assert len(distinct) >= 4 and min(distinct) >= 2 and sum(distinct) >= 0.8 * 5 * len(distinct)


def _expected_box(box: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    corners = np.array([[box[0], box[1], 1], [box[2], box[3], 1]], np.float64) @ matrix.T
    xs, ys = corners[:, 0] / corners[:, 2], corners[:, 1] / corners[:, 2]
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()])


@pytest.mark.parametrize('name', CONFIGS)
def test_boxes_and_masks_follow_each_frame(toy_vis_small: str, name: str) -> None:
    """On real clips: per frame, the kept instances, boxes and masks are the original ones mapped by that
    frame's recorded homography (flip, resizes, crop), and every frame shares it."""
    ds = _toy_dataset(toy_vis_small)
    pipeline = _pipeline(name)
    ious = []
    for seed in range(10):
        np.random.seed(seed)
        info = ds.get_data_info(seed % len(ds))
        by_img = {img['img_id']: img for img in info['images']}
        labels = {inst['instance_id']: inst['bbox_label'] for img in info['images'] for inst in img['instances']}
        out = pipeline(copy.deepcopy(info))
        if out is None:
            continue
        frames = _frames(out)
        assert len({f.img_shape for f in frames}) == 1 and len({f.flip for f in frames}) == 1
        for frame in frames[1:]:
            np.testing.assert_allclose(frame.homography_matrix, frames[0].homography_matrix)
        for frame in frames:
            h, w = frame.img_shape
            matrix = frame.homography_matrix
            geo = _geometry(frame)
            assert len(geo['boxes']) == len(geo['masks']) == len(geo['ids']) == len(geo['labels'])
            assert geo['masks'].shape[1:] == (h, w)
            expected = {}
            for inst in by_img[frame.img_id]['instances']:
                box = _expected_box(np.asarray(inst['bbox'], np.float64), matrix)
                if box[0] < w and box[1] < h and box[2] > 0 and box[3] > 0:
                    expected[inst['instance_id']] = (np.clip(box, 0, [w, h, w, h]), inst['mask'])
            assert sorted(geo['ids'].tolist()) == sorted(expected)
            for box, mask, iid, label in zip(geo['boxes'], geo['masks'], geo['ids'], geo['labels']):
                assert label == labels[iid]
                np.testing.assert_allclose(box, expected[iid][0], atol=1.0)
                original = mask_utils.decode(expected[iid][1])
                warped = cv2.warpPerspective(original, matrix.astype(np.float64), (w, h),
                                             flags=cv2.INTER_NEAREST).astype(bool)
                if warped.sum() >= 200:
                    # nearest-neighbour resizes round differently from one warp: compare loosely
                    ious.append((warped & mask).sum() / (warped | mask).sum())
                    assert ious[-1] > 0.75, (seed, iid, ious[-1])
                if mask.any():  # the box may be looser than the mask after a crop, never tighter
                    ys, xs = np.nonzero(mask)
                    assert xs.min() >= box[0] - 2 and xs.max() + 1 <= box[2] + 2
                    assert ys.min() >= box[1] - 2 and ys.max() + 1 <= box[3] + 2
    assert len(ious) > 20 and np.mean(ious) > 0.9


def test_stock_random_choice_cannot_share_its_choice() -> None:
    """Documents the upstream bug ClipRandomChoice works around (see its docstring)."""
    assert RandomChoice._methods_with_randomness.count('random_pipeline_index') == 2
    assert TRANSFORMS.get('ClipRandomChoice')._methods_with_randomness == ['random_pipeline_index']

    def broadcast(kind: str) -> Callable:
        choice = dict(type=kind, transforms=[[dict(type='Resize', scale=(40, 30), keep_ratio=False)],
                                             [dict(type='Resize', scale=(50, 20), keep_ratio=False)]])
        with DefaultScope.overwrite_default_scope('mmdet'):
            return TRANSFORMS.build(dict(type='TransformBroadcaster', share_random_params=True, transforms=[choice]))

    frames = dict(img=[np.zeros((10, 10, 3), np.uint8)] * 4, img_shape=[(10, 10)] * 4)
    with pytest.raises(RuntimeError, match='invoked at most once'):
        broadcast('RandomChoice')(copy.deepcopy(frames))
    ours = broadcast('ClipRandomChoice')
    shapes = set()
    for seed in range(10):
        np.random.seed(seed)
        out = ours(copy.deepcopy(frames))
        assert len({img.shape for img in out['img']}) == 1  # one choice per clip
        shapes.add(out['img'][0].shape[:2])
    assert shapes == {(30, 40), (20, 50)}


def test_skip_empty_clip() -> None:
    skip = SkipEmptyClip()
    empty = dict(gt_bboxes_labels=[np.zeros(0, int)] * 3, gt_instances_ids=[np.zeros(0, np.int32)] * 3,
                 gt_ignore_flags=[np.zeros(0, bool)] * 3)
    assert skip(copy.deepcopy(empty)) is None
    one = copy.deepcopy(empty)
    one['gt_bboxes_labels'][1], one['gt_instances_ids'][1] = np.array([2]), np.array([7])
    one['gt_ignore_flags'][1] = np.array([False])
    assert skip(copy.deepcopy(one)) is not None
    ignored = copy.deepcopy(one)
    ignored['gt_ignore_flags'][1] = np.array([True])
    assert skip(ignored) is None
    assert SkipEmptyClip(min_instances=2)(copy.deepcopy(one)) is None


class _EmptyVideo:
    """Removes every annotation of one video (to make its clips empty)."""

    def __init__(self, video_id: int) -> None:
        self.video_id = video_id

    def __call__(self, results: Dict[str, List]) -> Dict[str, List]:
        if results['video_id'][0] == self.video_id:
            for key in ('gt_bboxes', 'gt_bboxes_labels', 'gt_instances_ids', 'gt_ignore_flags'):
                results[key] = [v[:0] for v in results[key]]
        return results


def test_empty_clip_is_resampled_by_the_dataset(toy_vis_small: str) -> None:
    video_id = _toy_dataset(toy_vis_small).get_data_info(0)['video_id']
    pipeline = [dict(type='LocalGlobalFrameSample', num_frames=3),
                dict(type='TransformBroadcaster', transforms=[dict(type='LoadTrackAnnotations')]),
                _EmptyVideo(video_id), dict(type='SkipEmptyClip')]
    ds = _toy_dataset(toy_vis_small, pipeline)
    np.random.seed(0)
    for _ in range(5):
        out = ds[0]
        assert out['video_id'][0] != video_id and sum(len(x) for x in out['gt_bboxes_labels']) > 0


def test_dataset_configs() -> None:
    for name in ('youtube_vis_2019.py', 'youtube_vis_2021.py', 'ovis.py', 'youtube_vis_2019_coco_joint.py',
                 'toy_vis.py'):
        cfg = _config(name)
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator', 'test_evaluator'):
            assert key in cfg, (name, key)
        types = [s['type'] for s in cfg.train_pipeline]
        assert types[0] == 'LocalGlobalFrameSample' and cfg.train_pipeline[0]['num_frames'] == 5
        assert types[-2:] == ['SkipEmptyClip', 'PackTrackInputs']
    ytvis = _config('youtube_vis_2019.py')
    test_steps = ytvis.test_pipeline[0]['transforms']
    resize = [s for s in test_steps if s['type'] == 'Resize']
    assert len(resize) == 1 and resize[0]['keep_ratio'] and min(resize[0]['scale']) == 360
    assert max(resize[0]['scale']) >= 10000  # no maximum long side
    assert not any('Pad' in s['type'] for s in test_steps)
    assert ytvis.train_dataloader.dataset.filter_cfg.filter_empty_gt is False
    choice = ytvis.train_pipeline[3]['transforms'][0]
    assert [s[0]['scales'] for s in choice['transforms']][0] == [
        (768, s) for s in (288, 320, 352, 392, 416, 448, 480, 512)]
    assert _config('toy_vis.py').test_pipeline == [
        dict(type='TransformBroadcaster', transforms=[dict(type='LoadImageFromFile', backend_args=None),
                                                      dict(type='LoadTrackAnnotations', with_mask=True)]),
        dict(type='PackTrackInputs')]
    y21 = _config('youtube_vis_2021.py')
    assert y21.train_dataloader.dataset.dataset_version == '2021'
    assert y21.test_dataloader.dataset.ann_file == 'annotations/youtube_vis_2021_valid.json'
    ovis = _config('ovis.py')
    assert ovis.train_dataloader.dataset.type == 'OVISDataset'
    assert ovis.train_dataloader.dataset.ann_file == 'annotations/ovis_train.json'


def test_ovis_dataset_reads_converted_json(toy_vis_small: str, tmp_path: Any) -> None:
    # the toy CocoVID file with OVIS category names stands in for a converted OVIS file
    with open(osp.join(toy_vis_small, 'annotations', 'toy_vis_valid.json')) as f:
        data = json.load(f)
    for cat in data['categories']:
        cat['name'] = OVIS_CLASSES[cat['id'] - 1]
    ann = tmp_path / 'ovis_valid.json'
    ann.write_text(json.dumps(data))
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(dict(type='OVISDataset', ann_file=str(ann), test_mode=True, pipeline=[],
                                 dataset_version='2019', data_prefix=dict(img_path=osp.join(toy_vis_small, 'valid'))))
    assert len(OVIS_CLASSES) == 25 and ds.metainfo['classes'] == OVIS_CLASSES
    videos = [ds.get_data_info(i) for i in range(len(ds))]
    labels = sorted(i['bbox_label'] for v in videos for img in v['images'] for i in img['instances'])
    expected = sorted(a['category_id'] - 1 for a in data['annotations'])
    assert labels == expected and len(ds) == len(data['videos'])
