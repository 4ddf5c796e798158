"""labelme frames -> YouTube-VIS json (tools/dataset_converters/labelme2ytvis.py)."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import subprocess
import sys
import tarfile
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from tests.tool_runner import run_in_process, run_script

TOOL = 'dataset_converters/labelme2ytvis.py'
LABELME = 'labelme==7.9.1'
EXAMPLE = 'labelme-7.9.1/examples/video_annotation/'


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_in_process(TOOL, *args)


def _unavailable(reason: str) -> None:
    # locally a missing network is not a failure; CI must be able to fetch the example
    if os.environ.get('CI'):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope='session')
def labelme_example(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The labelme video example (5 street frames, 3 vehicles) from the labelme sdist, fetched at run time
    (it is GPL-3.0: never commit it); the folder holding ``data_annotated/`` and ``data_dataset_voc/``.

    ``MMSEQFORMER_LABELME_SDIST`` may point at an already downloaded ``labelme-7.9.1.tar.gz``.
    """
    tmp = tmp_path_factory.mktemp('labelme')
    sdist = os.environ.get('MMSEQFORMER_LABELME_SDIST')
    if not sdist:
        # labelme 7.9.1 declares Python >= 3.12; only its example files are used here
        cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:', '--ignore-requires-python',
               LABELME, '-d', str(tmp)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            _unavailable(f'pip download {LABELME} timed out')
        found = glob.glob(osp.join(str(tmp), 'labelme-*.tar.gz'))
        if proc.returncode != 0 or not found:
            tail = (proc.stderr.strip().splitlines() or ['no output'])[-1]
            _unavailable(f'could not download the {LABELME} sdist: {tail}')
        sdist = found[0]
    out = tmp / 'example'
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            rel = member.name[len(EXAMPLE):] if member.name.startswith(EXAMPLE) else ''
            parts = rel.split('/')
            # only the annotated frames and labelme's own class maps, written without any path from the archive
            if member.isfile() and len(parts) in (2, 3) and parts[0] in ('data_annotated', 'data_dataset_voc'):
                target = out.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    if not (out / 'data_annotated').is_dir():
        pytest.fail(f'{sdist} has no {EXAMPLE}data_annotated')
    return str(out)


def _decode(seg: Dict[str, Any]) -> np.ndarray:
    return mask_utils.decode(dict(size=seg['size'], counts=seg['counts'].encode())).astype(bool)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_labelme_video_example(labelme_example: str, tmp_path: Any) -> None:
    out_json = str(tmp_path / 'ytvis.json')
    proc = run_script(TOOL, osp.join(labelme_example, 'data_annotated'), out_json)  # the script itself
    assert proc.returncode == 0, proc.stderr
    assert '1 videos, 5 frames, 3 instances; categories: car, track' in proc.stdout
    with open(out_json) as f:
        data = json.load(f)
    assert data['categories'] == [dict(id=1, name='car', supercategory='car'),
                                  dict(id=2, name='track', supercategory='track')]
    (video, ) = data['videos']
    assert (video['length'], video['width'], video['height']) == (5, 1000, 563)
    assert video['file_names'] == [f'data_annotated/{i:08d}.jpg' for i in range(100, 105)]
    anns = data['annotations']
    assert sorted(a['category_id'] for a in anns) == [1, 2, 2]
    masks = {}
    for ann in anns:
        assert ann['video_id'] == 1 and ann['iscrowd'] == 0 and ann['length'] == 5
        assert all(s is not None for s in ann['segmentations'])
        masks[ann['id']] = [_decode(s) for s in ann['segmentations']]
        for mask, box, area in zip(masks[ann['id']], ann['bboxes'], ann['areas']):
            ys, xs = np.nonzero(mask)
            assert area == mask.sum() > 1000
            assert box == [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
    # identity: each instance overlaps itself in the next frame more than any other instance
    for t in range(4):
        for a in masks:
            own = _iou(masks[a][t], masks[a][t + 1])
            assert own > 0.7 and all(own > _iou(masks[a][t], masks[b][t + 1]) for b in masks if b != a)
    # the class maps labelme's labelme2voc wrote for the same frames (0 background, 1 car, 2 track)
    for t in range(5):
        voc = np.load(osp.join(labelme_example, 'data_dataset_voc', 'SegmentationClass', f'{100 + t:08d}.npy'))
        for cat in (1, 2):
            ours = np.any([masks[a['id']][t] for a in anns if a['category_id'] == cat], axis=0)
            assert _iou(ours, voc == cat) > 0.97

    # the converted file feeds the CocoVID converter and mmdet's video dataset
    pytest.importorskip('mmdet.datasets')
    from mmdet.datasets import BaseVideoDataset

    from mmseqformer.converters.ytvis_converter import convert_file
    cocovid = str(tmp_path / 'cocovid.json')
    assert convert_file(out_json, cocovid) == dict(videos=1, images=5, annotations=15, instances=3)
    ds = BaseVideoDataset(ann_file=cocovid, metainfo=dict(classes=('car', 'track')), test_mode=True,
                          data_prefix=dict(img_path=labelme_example), pipeline=[])
    (info, ) = [ds.get_data_info(i) for i in range(len(ds))]
    assert info['video_length'] == 5
    for frame in info['images']:
        assert osp.isfile(frame['img_path'])
        assert sorted((i['instance_id'], i['bbox_label']) for i in frame['instances']) == [(1, 1), (2, 1), (3, 0)]


def _write_frame(folder: str, name: str, shapes: List[Dict[str, Any]], size: tuple = (40, 60)) -> None:
    os.makedirs(folder, exist_ok=True)
    cv2.imwrite(osp.join(folder, f'{name}.jpg'), np.zeros((*size, 3), np.uint8))
    with open(osp.join(folder, f'{name}.json'), 'w') as f:
        json.dump(dict(version='5.0.1', flags={}, shapes=shapes, imagePath=f'{name}.jpg', imageData=None,
                       imageHeight=size[0], imageWidth=size[1]), f)


def _shape(label: str, points: List[List[float]], kind: str = 'polygon', group_id: Any = None) -> Dict[str, Any]:
    return dict(label=label, points=points, group_id=group_id, shape_type=kind, flags={})


def _rect(label: str, x1: int, y1: int, x2: int, y2: int, group_id: Any = None) -> Dict[str, Any]:
    return _shape(label, [[x1, y1], [x2, y2]], 'rectangle', group_id)


def test_track_ids_nesting_and_categories(tmp_path: Any) -> None:
    root = str(tmp_path / 'videos')
    a = osp.join(root, 'vid_a')
    # frame 2 before frame 10 (natural order); car-1 is missing from frame 10
    _write_frame(a, 'f2', [_rect('car-1', 0, 0, 10, 10), _rect('car', 20, 0, 30, 10, group_id=2),
                           _rect('car', 20, 20, 25, 25, group_id=2), _rect('person', 40, 0, 45, 20),
                           _rect('person', 50, 0, 55, 20), _shape('car', [[1, 1]], 'point'),
                           _rect('tree', 0, 30, 5, 35)])
    _write_frame(a, 'f10', [_rect('car_2', 21, 0, 31, 10), _rect('person', 41, 0, 46, 20),
                            _rect('person', 51, 0, 56, 20)])
    _write_frame(osp.join(root, 'nested', 'vid_b'), '0', [_rect('person', 5, 5, 15, 15)], size=(30, 20))
    out_json = str(tmp_path / 'out.json')
    proc = _run(root, out_json, '--categories', 'person,car')
    assert proc.returncode == 0, proc.stderr
    assert 'skipped: 1 x label tree, 1 x shape_type point' in proc.stdout
    assert f'image root (use as the image prefix): {root}' in proc.stdout
    with open(out_json) as f:
        data = json.load(f)
    assert [c['name'] for c in data['categories']] == ['person', 'car']
    # folders depth-first in natural order
    assert [v['file_names'] for v in data['videos']] == [['nested/vid_b/0.jpg'], ['vid_a/f2.jpg', 'vid_a/f10.jpg']]
    assert [(v['width'], v['height']) for v in data['videos']] == [(20, 30), (60, 40)]
    anns = [(a['video_id'], a['category_id'], a['areas']) for a in data['annotations']]
    # car-1 (absent later), car group 2 == car_2 (two rectangles merged), two unnumbered persons by rank
    assert anns == [(1, 1, [100.0]), (2, 2, [100.0, None]), (2, 2, [125.0, 100.0]), (2, 1, [100.0, 100.0]),
                    (2, 1, [100.0, 100.0])]
    car1 = data['annotations'][1]
    assert car1['bboxes'] == [[0.0, 0.0, 10.0, 10.0], None] and car1['segmentations'][1] is None
    assert data['annotations'][3]['bboxes'] == [[40.0, 0.0, 5.0, 20.0], [41.0, 0.0, 5.0, 20.0]]

    # without --categories: every base label, sorted
    proc = _run(a, str(tmp_path / 'all.json'))
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / 'all.json') as f:
        data = json.load(f)
    assert [c['name'] for c in data['categories']] == ['car', 'person', 'tree']
    assert data['videos'][0]['file_names'] == ['vid_a/f2.jpg', 'vid_a/f10.jpg']  # relative to the parent


def _error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert lines[0].startswith('labelme2ytvis.py: error: ')
    return lines[0]


def test_bad_input(tmp_path: Any) -> None:
    out_json = str(tmp_path / 'out.json')
    assert 'not a folder' in _error_line(run_script(TOOL, str(tmp_path / 'missing'), out_json))  # the script itself
    (tmp_path / 'empty').mkdir()
    assert 'no labelme json' in _error_line(_run(str(tmp_path / 'empty'), out_json))
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'meta.json').write_text(json.dumps(dict(foo=1)))
    assert 'not a labelme annotation' in _error_line(_run(str(other), out_json))
    (other / 'meta.json').write_text('{not json')
    assert 'not valid JSON' in _error_line(_run(str(other), out_json))
    os.remove(other / 'meta.json')
    _write_frame(str(other), 'a', [])
    os.remove(other / 'a.jpg')
    assert 'image a.jpg not found' in _error_line(_run(str(other), out_json))
    assert 'categories' in _error_line(_run(str(other), out_json, '--categories', 'a,,b'))
    assert not osp.exists(out_json)
    assert _run(str(other), out_json).returncode == 2  # still no image
    _write_frame(str(other), 'a', [])
    assert _run(str(other), out_json).returncode == 0
    before = open(out_json).read()
    assert 'exists' in _error_line(_run(str(other), out_json))
    assert open(out_json).read() == before
    assert _run(str(other), out_json, '--overwrite').returncode == 0
    assert sorted(os.listdir(tmp_path)) == ['empty', 'other', 'out.json']  # no temporary files left


_MISSING = object()


def _edit_frame(folder: str, name: str, **changes: Any) -> None:
    path = osp.join(folder, f'{name}.json')
    with open(path) as f:
        data = json.load(f)
    for key, value in changes.items():
        if value is _MISSING:
            data.pop(key)
        else:
            data[key] = value
    with open(path, 'w') as f:
        json.dump(data, f)


@pytest.mark.parametrize('image_path', [None, '', _MISSING], ids=['null', 'empty', 'missing'])
def test_image_path_missing_or_null(tmp_path: Any, image_path: Any) -> None:
    video = str(tmp_path / 'vid')
    _write_frame(video, 'f1', [_rect('car', 0, 0, 10, 10)])
    _write_frame(video, 'f2', [_rect('car', 2, 0, 12, 10)])
    _edit_frame(video, 'f2', imagePath=image_path)
    out_json = str(tmp_path / 'out.json')
    # the image with the json's stem is used
    proc = _run(video, out_json)
    assert proc.returncode == 0, proc.stderr
    with open(out_json) as f:
        data = json.load(f)
    assert data['videos'][0]['file_names'] == ['vid/f1.jpg', 'vid/f2.jpg']
    assert data['annotations'][0]['bboxes'][1] == [2.0, 0.0, 10.0, 10.0]
    # no image with that stem: one line naming the json, nothing written
    os.remove(osp.join(video, 'f2.jpg'))
    cv2.imwrite(osp.join(video, 'other.png'), np.zeros((40, 60, 3), np.uint8))
    new_json = str(tmp_path / 'new.json')
    line = _error_line(_run(video, new_json))
    assert osp.join(video, 'f2.json') in line and 'imagePath is' in line and 'found none' in line, line
    # two candidates: ambiguous
    for ext in ('.png', '.jpg'):
        cv2.imwrite(osp.join(video, f'f2{ext}'), np.zeros((40, 60, 3), np.uint8))
    line = _error_line(_run(video, new_json))
    assert osp.join(video, 'f2.json') in line and 'found 2 (f2.jpg, f2.png)' in line, line
    assert not osp.exists(new_json)
    assert sorted(os.listdir(tmp_path)) == ['out.json', 'vid']


@pytest.mark.parametrize('changes,words', [
    (dict(imagePath=5), 'imagePath is 5, not a file name'),
    (dict(imageHeight=None), 'imageHeight is None, not a positive integer'),
    (dict(imageWidth='60'), "imageWidth is '60', not a positive integer"),
])
def test_bad_frame_fields(tmp_path: Any, changes: Dict[str, Any], words: str) -> None:
    video = str(tmp_path / 'vid')
    _write_frame(video, 'f1', [_rect('car', 0, 0, 10, 10)])
    _edit_frame(video, 'f1', **changes)
    line = _error_line(_run(video, str(tmp_path / 'out.json')))
    assert f'{osp.join(video, "f1.json")}: {words}' in line, line
    assert not osp.exists(tmp_path / 'out.json')


def test_self_intersecting_polygon_is_one_line(tmp_path: Any) -> None:
    folder = str(tmp_path / 'vid')
    _write_frame(folder, 'a', [_shape('car', [[5, 5], [30, 20], [30, 5], [5, 20]])])  # a bow tie
    out_json = str(tmp_path / 'out.json')
    line = _error_line(_run(folder, out_json))
    assert f'{osp.join(folder, "a.json")}: shape \'car\': self-intersecting polygon' in line, line
    assert not osp.exists(out_json)
