"""The MaskTrack R-CNN training recipe (configs/_base_/datasets/toy_vis_masktrack.py) on real toy_vis videos: a key
and a reference frame of one video, shared geometry, the instances' ids across the two; a 1-frame video is its own
reference (a defined result, not an error)."""
import copy
import json
import os.path as osp
import shutil

import numpy as np

import mmseqformer.datasets  # noqa: F401  (registers the components)
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', '_base_', 'datasets', 'toy_vis_masktrack.py')


def _dataset(root, ann_file='annotations/toy_vis_train.json', photometric=False):
    steps = copy.deepcopy(Config.fromfile(CONFIG).train_pipeline)
    if not photometric:
        steps = [s for s in steps if s['type'] != 'TransformBroadcaster' or s['share_random_params']]
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(dict(type='ToyVISDataset', data_root=root, ann_file=ann_file,
                                   data_prefix=dict(img_path='train/JPEGImages'),
                                   filter_cfg=dict(filter_empty_gt=False, min_size=0), pipeline=steps))


def test_key_and_reference_frame_of_one_video(toy_vis_small):
    dataset = _dataset(toy_vis_small)
    np.random.seed(0)
    for index in range(6):
        packed = dataset[index]
        sample = packed['data_samples']
        assert packed['inputs'].shape[0] == 2
        key, ref = sample.key_frames_inds[0], sample.ref_frames_inds[0]
        assert key != ref
        frames = sample.video_data_samples
        assert frames[key].frame_id != frames[ref].frame_id
        assert frames[0].img_shape == frames[1].img_shape and min(frames[0].img_shape) in (160, 192, 224, 256)
        assert frames[0].flip == frames[1].flip
        ids = [set(f.gt_instances.instances_ids.tolist()) for f in frames]
        assert ids[0] & ids[1] or not ids[0] or not ids[1]  # one video: instance ids shared


def test_one_frame_video_is_its_own_reference(toy_vis_small, tmp_path):
    """A 1-frame video in training: key and reference are the same frame, with the same instances."""
    root = tmp_path / 'toy'
    shutil.copytree(toy_vis_small, root)
    ann_path = root / 'annotations' / 'toy_vis_train.json'
    ann = json.loads(ann_path.read_text())
    video_id = ann['videos'][0]['id']
    images = [im for im in ann['images'] if im['video_id'] == video_id and im['frame_id'] == 0]
    keep = {im['id'] for im in images}
    ann['videos'] = ann['videos'][:1]
    ann['images'] = images
    ann['annotations'] = [a for a in ann['annotations'] if a['image_id'] in keep]
    ann_path.write_text(json.dumps(ann))
    dataset = _dataset(str(root))
    assert len(dataset) == 1
    packed = dataset[0]
    sample = packed['data_samples']
    key, ref = sample.key_frames_inds[0], sample.ref_frames_inds[0]
    frames = sample.video_data_samples
    assert frames[key].frame_id == frames[ref].frame_id == 0
    assert (frames[key].gt_instances.instances_ids.tolist() == frames[ref].gt_instances.instances_ids.tolist())
    np.testing.assert_array_equal(packed['inputs'][0].numpy(), packed['inputs'][1].numpy())
