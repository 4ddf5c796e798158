"""YouTube-VIS/OVIS -> CocoVID conversion."""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
import subprocess
from collections import defaultdict
from typing import Any, Callable, Dict

import pytest

from mmseqformer.converters.ytvis_converter import convert_dir, convert_file, convert_ytvis
from mmseqformer.datasets.annotation_checks import YTVISFormatError, polygon_self_intersection

from tests.tool_runner import run_in_process, run_script

TOOL = 'dataset_converters/youtubevis2coco.py'


def _official() -> Dict[str, Any]:
    """A hand-made official file: 2 videos, 3 instances, a polygon, an uncompressed RLE and absent frames."""
    rle = {'size': [4, 6], 'counts': [2, 3, 19]}
    poly = [[1.0, 1.0, 4.0, 1.0, 4.0, 3.0]]
    return dict(
        info={}, licenses=[],
        videos=[dict(id=7, width=6, height=4, length=3, file_names=['a/0.jpg', 'a/1.jpg', 'a/2.jpg']),
                dict(id=3, width=6, height=4, length=2, file_names=['b/x.jpg', 'b/y.jpg'])],
        annotations=[
            dict(id=11, video_id=7, category_id=2, iscrowd=0, segmentations=[rle, None, rle],
                 bboxes=[[2, 0, 3, 1], None, [2, 0, 3, 1]], areas=[3, None, 3]),
            dict(id=12, video_id=3, category_id=1, iscrowd=0, segmentations=[poly, poly],
                 bboxes=[[1, 1, 3, 2], [1, 1, 3, 2]], areas=[3.0, 3.0]),
            dict(id=13, video_id=7, category_id=1, iscrowd=1, segmentations=[None, rle, rle],
                 bboxes=[None, [2, 0, 3, 1], [2, 0, 3, 1]], areas=[None, 3, 3])],
        categories=[dict(id=1, name='cat', supercategory='x'), dict(id=2, name='dog', supercategory='x')])


def _check_consistent(official: Dict[str, Any], coco: Dict[str, Any]) -> None:
    videos = {v['id']: v for v in official['videos']}
    assert [v['id'] for v in coco['videos']] == [v['id'] for v in official['videos']]
    assert all(v['name'] == osp.dirname(videos[v['id']]['file_names'][0]) for v in coco['videos'])
    assert len(coco['images']) == sum(len(v['file_names']) for v in official['videos'])
    assert [im['id'] for im in coco['images']] == list(range(1, len(coco['images']) + 1))
    images = {im['id']: im for im in coco['images']}
    for im in coco['images']:
        v = videos[im['video_id']]
        assert im['file_name'] == v['file_names'][im['frame_id']]
        assert (im['width'], im['height']) == (v['width'], v['height'])
    anns = official.get('annotations') or []
    assert len(coco['annotations']) == sum(b is not None for a in anns for b in a['bboxes'])
    assert [a['id'] for a in coco['annotations']] == list(range(1, len(coco['annotations']) + 1))
    owner = {}
    by_instance = defaultdict(list)
    for a in coco['annotations']:
        im = images[a['image_id']]
        assert a['video_id'] == im['video_id']
        assert owner.setdefault(a['instance_id'], (a['category_id'], a['video_id'])) == (a['category_id'],
                                                                                         a['video_id'])
        by_instance[a['instance_id']].append(a)
    # one instance per official annotation, carrying its per-frame data unchanged
    assert len(by_instance) == sum(any(b is not None for b in a['bboxes']) for a in anns)
    official_rows = sorted((a['video_id'], a['category_id'], t, json.dumps(a['segmentations'][t]), a['areas'][t],
                            json.dumps(a['bboxes'][t]))
                           for a in anns for t in range(len(a['bboxes'])) if a['bboxes'][t] is not None)
    coco_rows = sorted((a['video_id'], a['category_id'], images[a['image_id']]['frame_id'],
                        json.dumps(a['segmentation']), a['area'], json.dumps(a['bbox'])) for a in coco['annotations'])
    assert official_rows == coco_rows
    for rows in by_instance.values():
        frames = [images[a['image_id']]['frame_id'] for a in rows]
        assert frames == sorted(set(frames))


def test_convert_handmade() -> None:
    official = _official()
    coco = convert_ytvis(official)
    _check_consistent(official, coco)
    assert coco['categories'] == official['categories']
    assert [v['name'] for v in coco['videos']] == ['a', 'b']
    assert [a['instance_id'] for a in coco['annotations']] == [1, 2, 1, 2, 3, 3]
    assert [a['iscrowd'] for a in coco['annotations']] == [0, 1, 0, 1, 0, 0]
    assert official == _official(), 'input modified'


@pytest.mark.parametrize('split', ['train', 'valid'])
def test_convert_toy_vis(toy_vis_small: str, split: str, tmp_path: Any) -> None:
    src = osp.join(toy_vis_small, 'annotations', f'toy_vis_{split}_ytvis.json')
    counts = convert_file(src, str(tmp_path / 'out.json'))
    with open(src) as f:
        official = json.load(f)
    with open(tmp_path / 'out.json') as f:
        coco = json.load(f)
    _check_consistent(official, coco)
    assert counts == dict(videos=len(official['videos']), images=sum(v['length'] for v in official['videos']),
                          annotations=len(coco['annotations']), instances=len(official['annotations']))
    assert os.listdir(tmp_path) == ['out.json']


def test_test_split_without_annotations() -> None:
    official = _official()
    del official['annotations']
    coco = convert_ytvis(official)
    assert coco['annotations'] == [] and len(coco['images']) == 5
    official['annotations'] = None  # as in some OVIS files
    assert convert_ytvis(official) == coco


def _drop(key: str) -> Callable[[dict], None]:
    return lambda d: d.pop(key)


BAD_CASES = {
    'no videos': (_drop('videos'), 'videos'),
    'no categories': (_drop('categories'), 'categories'),
    'videos not a list': (lambda d: d.update(videos={}), 'not a list'),
    'video without file names': (lambda d: d['videos'][0].pop('file_names'), 'file_names'),
    'length disagrees': (lambda d: d['videos'][0].update(length=5), 'length'),
    'duplicate video': (lambda d: d['videos'][1].update(id=7), 'duplicate video'),
    'annotation without bboxes': (lambda d: d['annotations'][0].pop('bboxes'), 'bboxes'),
    'too few segmentations': (lambda d: d['annotations'][0]['segmentations'].pop(), 'segmentations'),
    'too many areas': (lambda d: d['annotations'][1]['areas'].append(1), 'areas'),
    'unknown video': (lambda d: d['annotations'][0].update(video_id=99), 'unknown video'),
    'unknown category': (lambda d: d['annotations'][0].update(category_id=5), 'unknown category'),
    'box without mask': (lambda d: d['annotations'][0]['segmentations'].__setitem__(0, None), 'segmentation'),
    'duplicate annotation': (lambda d: d['annotations'][1].update(id=11), 'duplicate annotation'),
}


@pytest.mark.parametrize('case', sorted(BAD_CASES))
def test_bad_input_raises(case: str, tmp_path: Any) -> None:
    corrupt, words = BAD_CASES[case]
    data = copy.deepcopy(_official())
    corrupt(data)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(data))
    with pytest.raises(YTVISFormatError, match=words) as info:
        convert_file(str(path), str(tmp_path / 'out.json'))
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / 'out.json').exists() and os.listdir(tmp_path) == ['bad.json']


@pytest.mark.parametrize('text', ['{not json', '[1, 2]', '"string"', '\xff\xfe'])
def test_not_a_ytvis_json(text: str, tmp_path: Any) -> None:
    path = tmp_path / 'bad.json'
    path.write_bytes(text.encode('latin-1'))
    with pytest.raises(YTVISFormatError, match='bad.json'):
        convert_file(str(path), str(tmp_path / 'out.json'))


@pytest.mark.parametrize('version,src,dst', [
    ('2019', '{split}.json', 'youtube_vis_2019_{split}.json'),
    ('2021', '{split}/instances.json', 'youtube_vis_2021_{split}.json'),
    ('ovis', 'annotations_{split}.json', 'ovis_{split}.json'),
])
def test_convert_dir(version: str, src: str, dst: str, tmp_path: Any) -> None:
    ann_dir, out_dir = tmp_path / 'ann', tmp_path / 'out'
    for split in ('train', 'test'):  # valid missing: skipped
        path = ann_dir / src.format(split=split)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _official()
        if split == 'test':
            del data['annotations']
        path.write_text(json.dumps(data))
    results = convert_dir(str(ann_dir), str(out_dir), version)
    assert [osp.basename(r[1]) for r in results] == [dst.format(split='train'), dst.format(split='test')]
    assert sorted(os.listdir(out_dir)) == sorted([dst.format(split='train'), dst.format(split='test')])
    assert results[1][2]['annotations'] == 0 and results[0][2]['annotations'] == 6
    with pytest.raises(FileNotFoundError):
        convert_dir(str(out_dir), str(out_dir), version)


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return run_in_process(TOOL, *args)


def test_runs_as_a_script(tmp_path: Any) -> None:
    """The script itself, not only its main(): a conversion, and bad input as one line with exit status 2."""
    src = tmp_path / 'train.json'
    src.write_text(json.dumps(_official()))
    res = run_script(TOOL, '-i', str(src), '-o', str(tmp_path / 'coco.json'))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / 'coco.json').read_text()) == convert_ytvis(_official())
    line = _one_error_line(run_script(TOOL, '-i', str(tmp_path / 'missing.json'), '-o', str(tmp_path / 'x.json')))
    assert 'missing.json: no such file or folder' in line


def test_cli(tmp_path: Any) -> None:
    src = tmp_path / 'train.json'
    src.write_text(json.dumps(_official()))
    res = _run_cli('-i', str(src), '-o', str(tmp_path / 'out' / 'coco.json'))
    assert res.returncode == 0, res.stderr
    with open(tmp_path / 'out' / 'coco.json') as f:
        assert json.load(f) == convert_ytvis(_official())
    res = _run_cli('-i', str(tmp_path), '-o', str(tmp_path / 'dir'), '--version', '2019')
    assert res.returncode == 0, res.stderr
    assert os.listdir(tmp_path / 'dir') == ['youtube_vis_2019_train.json']

    (tmp_path / 'bad.json').write_text('{')
    for args in (('-i', str(tmp_path / 'bad.json'), '-o', str(tmp_path / 'x.json')),
                 ('-i', str(tmp_path / 'missing.json'), '-o', str(tmp_path / 'x.json')),
                 ('-i', str(tmp_path), '-o', str(tmp_path / 'y')),  # folder without --version
                 ('-i', str(src), '-o', str(tmp_path / 'x.json'), '--version', '2020'),
                 ('-o', str(tmp_path / 'x.json'))):
        res = _run_cli(*args)
        assert res.returncode == 2, args
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and 'error' in lines[0] and 'Traceback' not in res.stderr, res.stderr
    assert not (tmp_path / 'x.json').exists()


def _set_frame(key: str, ann: int, frame: int, value: Any) -> Callable[[dict], None]:
    return lambda d: d['annotations'][ann][key].__setitem__(frame, value)


# corruptions of one frame of an annotation: (corrupt, words in the message, annotation id, video id, frame)
FRAME_CASES = {
    'box past the right border': (_set_frame('bboxes', 0, 0, [2, 0, 6, 1]), 'outside the 6x4 image', 11, 7, 0),
    'box above the image': (_set_frame('bboxes', 1, 1, [1, -1.5, 3, 2]), 'outside the 6x4 image', 12, 3, 1),
    'box past the bottom': (_set_frame('bboxes', 2, 2, [2, 0, 3, 5.5]), 'outside the 6x4 image', 13, 7, 2),
    'zero-width box': (_set_frame('bboxes', 0, 2, [2, 0, 0, 1]), 'non-positive width or height', 11, 7, 2),
    'negative-height box': (_set_frame('bboxes', 1, 0, [1, 1, 3, -2]), 'non-positive width or height', 12, 3, 0),
    'box of strings': (_set_frame('bboxes', 1, 0, ['1', 1, 3, 2]), 'not 4 finite numbers', 12, 3, 0),
    'polygon of 2 points': (_set_frame('segmentations', 1, 0, [[1.0, 1.0, 4.0, 1.0]]), 'degenerate polygon', 12, 3, 0),
    'empty polygon part': (_set_frame('segmentations', 1, 1, [[1.0, 1.0, 4.0, 1.0, 4.0, 3.0], []]),
                           'degenerate polygon', 12, 3, 1),
    'empty polygon list': (_set_frame('segmentations', 1, 1, []), 'empty polygon', 12, 3, 1),
    'odd polygon': (_set_frame('segmentations', 1, 0, [[1.0, 1.0, 4.0, 1.0, 4.0, 3.0, 1.0]]), 'degenerate polygon',
                    12, 3, 0),
    'RLE of the wrong size': (_set_frame('segmentations', 0, 2, {'size': [6, 4], 'counts': [2, 3, 19]}),
                              'RLE size [6, 4] differs from the video size [height, width] = [4, 6]', 11, 7, 2),
    'RLE without counts': (_set_frame('segmentations', 2, 1, {'size': [4, 6]}), 'lacks "size" or "counts"', 13, 7, 1),
    'segmentation of a number': (_set_frame('segmentations', 2, 1, 5), 'not a polygon list or RLE dict', 13, 7, 1),
}


@pytest.mark.parametrize('case', sorted(FRAME_CASES))
def test_bad_frame_raises_naming_annotation_video_and_frame(case: str, tmp_path: Any) -> None:
    corrupt, words, ann_id, video_id, frame = FRAME_CASES[case]
    data = _official()
    corrupt(data)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(data))
    with pytest.raises(YTVISFormatError) as info:
        convert_file(str(path), str(tmp_path / 'out.json'))
    msg = str(info.value)
    assert msg.startswith(f'{path}: annotation {ann_id} (video {video_id}) frame {frame}'), msg
    assert words in msg, msg
    assert os.listdir(tmp_path) == ['bad.json']


@pytest.mark.parametrize('value', [0, -4, 4.5, None, True])
def test_bad_video_size_raises(value: Any) -> None:
    data = _official()
    data['videos'][1]['height'] = value
    with pytest.raises(YTVISFormatError, match=r"<dict>: video 3 has height .* not a positive integer"):
        convert_ytvis(data)


def test_boxes_within_one_pixel_are_accepted_self_intersecting_polygons_rejected() -> None:
    data = _official()
    # 1 px tolerance on every side of the 6x4 image
    data['annotations'][0]['bboxes'][0] = [-1, -1, 8, 6]
    data['annotations'][0]['bboxes'][2] = [2.5, 0.5, 4.5, 4.5]
    coco = convert_ytvis(data)
    _check_consistent(data, coco)
    assert coco['annotations'][0]['bbox'] == [-1, -1, 8, 6]
    # a "bow tie": pycocotools would fill it by the even-odd rule
    data['annotations'][1]['segmentations'][1] = [[0.0, 0.0, 4.0, 3.0, 4.0, 0.0, 0.0, 3.0]]
    with pytest.raises(YTVISFormatError, match=r'frame 1: self-intersecting polygon \(its edges 1 and 3 meet'):
        convert_ytvis(data)


@pytest.mark.parametrize('coords,crossing', [
    ([0, 0, 4, 0, 4, 4, 0, 4], None),  # square
    ([0, 0, 4, 0, 4, 4, 0, 4, 0, 0], None),  # closed explicitly
    ([0, 0, 4, 0, 4, 0, 4, 4, 2, 1, 0, 4], None),  # concave, a repeated consecutive point
    ([0, 0, 4, 3, 4, 0, 0, 3], (0, 2)),  # bow tie
    ([0, 0, 2, 2, 4, 0, 4, 4, 2, 2, 0, 4], (0, 3)),  # figure eight touching at (2, 2)
    ([0, 0, 4, 0, 2, 0, 2, 3], (0, 2)),  # folds back along its first edge
    ([0, 0, 4, 0, 2, 0], (2, 0)),  # a flat triangle: the closing edge folds back onto the first
    ([0, 0, 6, 0, 6, 4, 3, 4, 3, 0.0, 0, 4], (0, 3)),  # a later edge touches the first one
], ids=['square', 'closed', 'concave', 'bow tie', 'figure eight', 'fold back', 'flat', 'touching'])
def test_polygon_self_intersection(coords, crossing) -> None:
    assert polygon_self_intersection([float(c) for c in coords]) == crossing


def _official_file(path: Any, data: Any = None) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_official() if data is None else data))
    return path


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1 and 'Traceback' not in res.stderr, res.stderr
    assert lines[0].startswith('youtubevis2coco.py: error: ')
    return lines[0]


def test_cli_bad_annotation_names_file_annotation_and_video(tmp_path: Any) -> None:
    data = _official()
    data['annotations'][2]['bboxes'][1] = [2, 0, 3, 9]
    src = _official_file(tmp_path / 'train.json', data)
    out = tmp_path / 'out.json'
    out.write_text('previous')
    line = _one_error_line(_run_cli('-i', str(src), '-o', str(out), '--overwrite'))
    assert f'{src}: annotation 13 (video 7) frame 1' in line and 'outside the 6x4 image' in line
    assert out.read_text() == 'previous'
    assert sorted(os.listdir(tmp_path)) == ['out.json', 'train.json']


def test_cli_refuses_an_existing_output_unless_overwrite(tmp_path: Any) -> None:
    src = _official_file(tmp_path / 'train.json')
    out = tmp_path / 'out.json'
    out.write_text('previous')
    line = _one_error_line(_run_cli('-i', str(src), '-o', str(out)))
    assert str(out) in line and 'exists' in line and '--overwrite' in line
    assert out.read_text() == 'previous'
    res = _run_cli('-i', str(src), '-o', str(out), '--overwrite')
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text()) == convert_ytvis(_official())
    assert sorted(os.listdir(tmp_path)) == ['out.json', 'train.json']  # no temporary file left
    with pytest.raises(FileExistsError, match='out.json'):
        convert_file(str(src), str(out))


def test_cli_folder_mode_is_all_or_nothing(tmp_path: Any) -> None:
    ann, out = tmp_path / 'ann', tmp_path / 'out'
    _official_file(ann / 'train.json')
    no_gt = _official()
    del no_gt['annotations']
    _official_file(ann / 'valid.json', no_gt)
    out.mkdir()
    (out / 'youtube_vis_2019_valid.json').write_text('previous')
    # one existing output: refused before anything is converted
    line = _one_error_line(_run_cli('-i', str(ann), '-o', str(out), '--version', '2019'))
    assert str(out / 'youtube_vis_2019_valid.json') in line and 'exists' in line
    assert os.listdir(out) == ['youtube_vis_2019_valid.json']
    assert (out / 'youtube_vis_2019_valid.json').read_text() == 'previous'
    # a bad second file: the first is not written either, the existing one is kept
    no_gt['videos'][0]['width'] = 0
    _official_file(ann / 'valid.json', no_gt)
    line = _one_error_line(_run_cli('-i', str(ann), '-o', str(out), '--version', '2019', '--overwrite'))
    assert str(ann / 'valid.json') in line and 'video 7 has width 0' in line
    assert os.listdir(out) == ['youtube_vis_2019_valid.json']
    assert (out / 'youtube_vis_2019_valid.json').read_text() == 'previous'
    # --overwrite with good files replaces both
    no_gt['videos'][0]['width'] = 6
    _official_file(ann / 'valid.json', no_gt)
    res = _run_cli('-i', str(ann), '-o', str(out), '--version', '2019', '--overwrite')
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(out)) == ['youtube_vis_2019_train.json', 'youtube_vis_2019_valid.json']
    assert json.loads((out / 'youtube_vis_2019_valid.json').read_text()) == convert_ytvis(no_gt)
