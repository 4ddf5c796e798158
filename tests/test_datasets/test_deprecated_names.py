"""The transforms' old SeqFormer names still build, warn, and do exactly what the new names do."""
from __future__ import annotations

import copy
import glob
import os.path as osp
import re
from typing import Any, Callable, Dict

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet.datasets')

import mmseqformer.datasets  # noqa: E402,F401  (registers the components)
from mmdet.registry import DATASETS, TRANSFORMS  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import BaseDataElement  # noqa: E402

from mmseqformer.datasets import masks_to_boxes  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_mbv2-toy_1xb2-1100i_toy.py')
RENAMED = {
    'SeqFormerClipSample': 'LocalGlobalFrameSample',
    'SeqFormerImageToClip': 'ImageToClip',
    'SeqFormerRandomChoice': 'ClipRandomChoice',
    'SeqFormerSkipEmptyClip': 'SkipEmptyClip',
}
OLD_PREPROCESSOR_NAME = 'SeqFormerDataPreprocessor'


def _video() -> Dict[str, Any]:
    images = [dict(img_path=f'{i}.jpg', frame_id=i, img_id=100 + i) for i in range(20)]
    return dict(video_id=7, video_length=20, images=images)


def _frame() -> Dict[str, Any]:
    masks = np.zeros((2, 48, 64), np.uint8)
    masks[0, 10:30, 20:40] = 1
    masks[1, 20:25, 58:] = 1
    img = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return dict(img=img, img_shape=(48, 64), ori_shape=(48, 64), img_id=3, frame_id=0, video_id=3,
                gt_masks=BitmapMasks(masks, 48, 64), gt_bboxes=masks_to_boxes(masks),
                gt_bboxes_labels=np.array([4, 7]), gt_instances_ids=np.array([5, 9], np.int32),
                gt_ignore_flags=np.zeros(2, bool))


def _clip(num_instances: int) -> Dict[str, Any]:
    labels = [np.zeros(0, int), np.arange(num_instances), np.zeros(0, int)]
    return dict(gt_bboxes_labels=labels, gt_instances_ids=[x + 10 for x in labels],
                gt_ignore_flags=[np.zeros(len(x), bool) for x in labels])


def _choice(name: str) -> Dict[str, Any]:
    """The renamed random choice inside a broadcaster that shares its parameters across frames."""
    return dict(type='TransformBroadcaster', share_random_params=True, transforms=[dict(type=name, transforms=[
        [dict(type='Resize', scale=(40, 30), keep_ratio=False)],
        [dict(type='Resize', scale=(50, 20), keep_ratio=False)]])])


# old name -> (config of the new name's transform, inputs); the old name's config is the same with the old name
CASES: Dict[str, Callable[[str], Any]] = {
    'SeqFormerClipSample': lambda name: (dict(type=name, num_frames=5), [_video() for _ in range(5)]),
    'SeqFormerImageToClip': lambda name: (dict(type=name, num_frames=4), [_frame() for _ in range(3)]),
    'SeqFormerRandomChoice': lambda name: (_choice(name), [dict(img=[np.zeros((10, 10, 3), np.uint8)] * 3,
                                                               img_shape=[(10, 10)] * 3) for _ in range(8)]),
    'SeqFormerSkipEmptyClip': lambda name: (dict(type=name, min_instances=2), [_clip(n) for n in (0, 1, 2, 3)]),
}


def assert_same(a: Any, b: Any) -> None:
    """Equal values in nested dicts / lists / arrays / tensors / masks / data elements."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, BitmapMasks):
        np.testing.assert_array_equal(a.masks, b.masks)
    elif isinstance(a, BaseDataElement):
        assert_same(a.metainfo, b.metainfo)
        assert_same(dict(a.items()), dict(b.items()))
    else:
        assert a == b


def _outputs(cfg: Dict[str, Any], inputs: list) -> list:
    with DefaultScope.overwrite_default_scope('mmdet'):
        transform = TRANSFORMS.build(cfg)
    np.random.seed(3)
    return [transform(copy.deepcopy(x)) for x in inputs]


@pytest.mark.parametrize('old', sorted(CASES))
def test_old_name_warns_and_matches_the_new_one(old: str) -> None:
    new = RENAMED[old]
    new_cfg, inputs = CASES[old](new)
    expected = _outputs(new_cfg, inputs)
    with pytest.warns(DeprecationWarning) as record:
        got = _outputs(CASES[old](old)[0], inputs)
    assert [str(w.message) for w in record if 'is deprecated and will be removed' in str(w.message)] == [
        f"'{old}' is deprecated and will be removed; use '{new}' (same arguments) instead"]
    assert_same(got, expected)
    assert len({str(x) for x in expected}) > 1  # the inputs exercise more than one outcome


def test_old_classes_are_subclasses_of_the_new_ones() -> None:
    for old, new in RENAMED.items():
        assert issubclass(TRANSFORMS.get(old), TRANSFORMS.get(new))
    # the randomness bookkeeping TransformBroadcaster relies on is the new classes'
    assert TRANSFORMS.get('SeqFormerRandomChoice')._methods_with_randomness == ['random_pipeline_index']
    assert TRANSFORMS.get('SeqFormerImageToClip').avoid_cache_randomness is True


def _with_old_names(node: Any) -> Any:
    old_of = {new: old for old, new in RENAMED.items()}
    if isinstance(node, dict):
        return {k: old_of.get(v, v) if k == 'type' else _with_old_names(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_old_names(x) for x in node]
    return node


def _toy_item(root: str, pipeline: list) -> Dict[str, Any]:
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(dict(type='ToyVISDataset', data_root=root, ann_file='annotations/toy_vis_train.json',
                                 data_prefix=dict(img_path='train/JPEGImages'), pipeline=pipeline))
    np.random.seed(5)
    return [ds[i] for i in range(3)]


def test_toy_config_with_the_old_names_gives_the_same_clips(toy_vis_small: str) -> None:
    pipeline = Config.fromfile(TOY_CONFIG).train_pipeline
    old_pipeline = _with_old_names(pipeline)
    assert str(old_pipeline) != str(pipeline)
    expected = _toy_item(toy_vis_small, pipeline)
    with pytest.warns(DeprecationWarning) as record:
        got = _toy_item(toy_vis_small, old_pipeline)
    warned = {re.match(r"'(\w+)' is deprecated", str(w.message)).group(1) for w in record
              if 'is deprecated and will be removed' in str(w.message)}
    assert warned == {'SeqFormerClipSample', 'SeqFormerRandomChoice', 'SeqFormerSkipEmptyClip'}
    assert_same(got, expected)


def test_shipped_configs_and_docs_use_the_new_names() -> None:
    files = glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    files += glob.glob(osp.join(REPO, 'configs', '**', '*.md'), recursive=True)
    files += [osp.join(REPO, 'README.md')] + glob.glob(osp.join(REPO, 'docs', '*.md'))
    assert len(files) > 10
    for path in files:
        with open(path) as f:
            text = f.read()
        if osp.basename(path) == 'dataset_prepare.md':  # its table of renamed components
            text = re.sub(r'\| `SeqFormer\w+` \|', '', text)
        for old in (*RENAMED, OLD_PREPROCESSOR_NAME):
            assert old not in text, (path, old)
