"""RandomCropKeepInstances: mmdet's random window, but instances outside it stay as zero-area boxes."""
from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip('mmdet.datasets')

import mmseqformer.datasets  # noqa: E402,F401  (registers the transforms)
from mmdet.registry import TRANSFORMS  # noqa: E402
from mmdet.structures.bbox import HorizontalBoxes  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402


def _frame(h: int = 100, w: int = 120) -> dict:
    """Three instances: inside the 40x50 window at (30, 20), partly inside, and fully right of it."""
    boxes = np.array([[35, 25, 55, 45], [10, 30, 40, 50], [90, 10, 110, 30]], np.float32)
    masks = np.zeros((3, h, w), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        masks[k, y1:y2, x1:x2] = 1
    img = np.arange(h * w * 3, dtype=np.int64).reshape(h, w, 3) % 251
    return dict(img=img.astype(np.uint8), img_shape=(h, w), gt_bboxes=HorizontalBoxes(boxes),
                gt_bboxes_labels=np.array([3, 1, 4]), gt_ignore_flags=np.zeros(3, bool),
                gt_instances_ids=np.array([7, 8, 9]), gt_masks=BitmapMasks(masks, h, w))


def _build(**kwargs):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return TRANSFORMS.build(dict(type='RandomCropKeepInstances', **kwargs))


def test_instances_outside_the_window_stay_as_zero_area_boxes() -> None:
    crop = _build(crop_size=(50, 40), crop_type='absolute')  # (w, h) for 'absolute', as mmdet
    crop._rand_offset = lambda margin: (20, 30)  # window x 30..80, y 20..60
    out = crop(_frame())
    assert out['img_shape'] == (40, 50) and out['img'].shape == (40, 50, 3)
    np.testing.assert_array_equal(out['img'], _frame()['img'][20:60, 30:80])
    # shifted by (-30, -20) and clamped to the window; the third box lies right of it: zero width at x = 50
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), [[5, 5, 25, 25], [0, 10, 10, 30], [50, 0, 50, 10]])
    assert out['gt_bboxes_labels'].tolist() == [3, 1, 4]
    assert out['gt_instances_ids'].tolist() == [7, 8, 9]
    assert out['gt_ignore_flags'].tolist() == [False] * 3
    masks = out['gt_masks'].masks
    assert masks.shape == (3, 40, 50)
    assert masks.sum((1, 2)).tolist() == [400, 200, 0]
    np.testing.assert_array_equal(out['homography_matrix'], [[1, 0, -30], [0, 1, -20], [0, 0, 1]])


def test_mmdet_random_crop_drops_them() -> None:
    """What the subclass changes: mmdet removes the outside instance (and would return None for none left)."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        crop = TRANSFORMS.build(dict(type='RandomCrop', crop_size=(50, 40), crop_type='absolute'))
    crop._rand_offset = lambda margin: (20, 30)
    out = crop(_frame())
    assert out['gt_instances_ids'].tolist() == [7, 8] and len(out['gt_masks']) == 2


def test_never_returns_none_and_recompute_bbox() -> None:
    crop = _build(crop_size=(10, 10), crop_type='absolute', recompute_bbox=True)
    crop._rand_offset = lambda margin: (80, 0)  # window x 0..10, y 80..90: no instance there
    out = crop(_frame())
    assert out is not None and out['gt_instances_ids'].tolist() == [7, 8, 9]
    np.testing.assert_array_equal(out['gt_bboxes'].numpy(), np.zeros((3, 4)))  # boxes of empty masks


def test_absolute_range_sizes_as_detr_random_size_crop() -> None:
    """Each side uniform in [min, min(side, max)]; a side shorter than min is kept whole."""
    crop = _build(crop_size=(384, 600))
    np.random.seed(0)
    hs, ws = set(), set()
    for _ in range(400):
        h, w = crop._get_crop_size((450, 800))
        hs.add(h)
        ws.add(w)
    assert min(hs) == 384 and max(hs) == 450 and min(ws) == 384 and max(ws) == 600
    assert len(hs) > 50 and len(ws) > 150
    assert crop._get_crop_size((300, 1000))[0] == 300


def test_one_window_for_the_whole_clip() -> None:
    with DefaultScope.overwrite_default_scope('mmdet'):
        broadcast = TRANSFORMS.build(dict(
            type='TransformBroadcaster', share_random_params=True,
            transforms=[dict(type='RandomCropKeepInstances', crop_size=(30, 90))]))
    frames = [_frame() for _ in range(4)]
    clip = {key: [f[key] for f in frames] for key in frames[0]}
    windows = set()
    for seed in range(12):
        np.random.seed(seed)
        out = broadcast(copy.deepcopy(clip))
        matrices = {m.tobytes() for m in out['homography_matrix']}
        shapes = set(out['img_shape'])
        assert len(matrices) == 1 and len(shapes) == 1
        for img in out['img'][1:]:
            np.testing.assert_array_equal(img, out['img'][0])
        for boxes in out['gt_bboxes'][1:]:
            np.testing.assert_array_equal(boxes.numpy(), out['gt_bboxes'][0].numpy())
        assert all(ids.tolist() == [7, 8, 9] for ids in out['gt_instances_ids'])
        windows.add((shapes.pop(), matrices.pop()))
    assert len(windows) == 12
