"""Fixtures of the inference API tests: the shipped toy model and real toy-video frames on disk."""
import json
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CONFIG = osp.join(REPO, 'configs', 'seqformer', 'seqformer_mbv2-toy_1xb2-1100i_toy.py')
TOY_CHECKPOINT = osp.join(REPO, 'demo', 'checkpoints', 'seqformer_mbv2-toy_toy.pth')


@pytest.fixture(scope='session')
def toy_model():
    """The shipped toy model on CPU, eval mode."""
    from mmseqformer.apis import init_model
    return init_model(TOY_CONFIG, TOY_CHECKPOINT)


@pytest.fixture(scope='session')
def toy_valid_video(toy_vis_small):
    """(frame paths, ytvis video dict, its gt annotations) of the valid video of the small toy set with the
    most instances among those of at least 20 frames."""
    with open(osp.join(toy_vis_small, 'annotations', 'toy_vis_valid_ytvis.json')) as f:
        data = json.load(f)
    counts = {}
    for ann in data['annotations']:
        counts[ann['video_id']] = counts.get(ann['video_id'], 0) + 1
    video = max((v for v in data['videos'] if v['length'] >= 20), key=lambda v: (counts.get(v['id'], 0), -v['length']))
    paths = [osp.join(toy_vis_small, 'valid', 'JPEGImages', name) for name in video['file_names']]
    anns = [a for a in data['annotations'] if a['video_id'] == video['id']]
    return paths, video, anns
