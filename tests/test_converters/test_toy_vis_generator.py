"""The synthetic toy_vis generator: format, content spec, determinism and the CLI."""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import subprocess
from collections import defaultdict
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mmseqformer.converters.toy_vis_generator import (CLASSES, MAX_LEN, MIN_BOX_SIDE, MIN_LEN, generate_toy_vis,
                                                      render_video, summarize)
from mmseqformer.converters.ytvis_converter import convert_ytvis

from tests.tool_runner import run_in_process, run_script

TOOL = 'dataset_converters/make_toy_vis.py'
SPLITS = ('train', 'valid')


def _load(root: str, name: str) -> Dict[str, Any]:
    with open(osp.join(root, 'annotations', name), encoding='utf-8') as f:
        return json.load(f)


def _tree_digest(root: str) -> Dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                digests[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return run_in_process(TOOL, *args)


@pytest.mark.parametrize('split', SPLITS)
def test_ytvis_format(toy_vis_small: str, split: str) -> None:
    data = _load(toy_vis_small, f'toy_vis_{split}_ytvis.json')
    assert set(data) == {'info', 'licenses', 'videos', 'annotations', 'categories'}
    assert [(c['id'], c['name']) for c in data['categories']] == list(enumerate(CLASSES, 1))
    assert all('supercategory' in c for c in data['categories'])
    videos = {v['id']: v for v in data['videos']}
    assert sorted(videos) == list(range(1, len(data['videos']) + 1))
    assert len(videos) == (16 if split == 'train' else 4)
    for v in data['videos']:
        assert set(v) == {'id', 'width', 'height', 'length', 'file_names'}
        assert len(v['file_names']) == v['length']
        name = osp.dirname(v['file_names'][0])
        assert v['file_names'] == [f'{name}/{t:05d}.jpg' for t in range(v['length'])]
        for name in v['file_names'][:: max(1, v['length'] // 3)]:
            img = cv2.imread(osp.join(toy_vis_small, split, 'JPEGImages', name))
            assert img is not None and img.shape == (v['height'], v['width'], 3)
        assert osp.isfile(osp.join(toy_vis_small, split, 'JPEGImages', v['file_names'][-1]))
    assert [a['id'] for a in data['annotations']] == list(range(1, len(data['annotations']) + 1))
    for a in data['annotations']:
        assert set(a) == {'id', 'video_id', 'category_id', 'iscrowd', 'width', 'height', 'length', 'segmentations',
                          'bboxes', 'areas'}
        v = videos[a['video_id']]
        assert (a['width'], a['height'], a['length'], a['iscrowd']) == (v['width'], v['height'], v['length'], 0)
        assert 1 <= a['category_id'] <= len(CLASSES)
        assert len(a['segmentations']) == len(a['bboxes']) == len(a['areas']) == v['length']
        for seg, box, area in zip(a['segmentations'], a['bboxes'], a['areas']):
            assert (seg is None) == (box is None) == (area is None)
            if seg is not None:
                assert seg['size'] == [v['height'], v['width']] and isinstance(seg['counts'], str)
    # the CocoVID file is the converter's output of the official one
    assert _load(toy_vis_small, f'toy_vis_{split}.json') == convert_ytvis(data)


@pytest.mark.parametrize('split', SPLITS)
def test_masks_match_boxes(toy_vis_small: str, split: str) -> None:
    data = _load(toy_vis_small, f'toy_vis_{split}_ytvis.json')
    per_frame = defaultdict(list)
    for a in data['annotations']:
        for t, (seg, box, area) in enumerate(zip(a['segmentations'], a['bboxes'], a['areas'])):
            if seg is None:
                continue
            mask = mask_utils.decode(seg).astype(bool)
            ys, xs = np.nonzero(mask)
            tight = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
            assert box == tight
            assert area == int(mask.sum())
            assert min(box[2:]) >= MIN_BOX_SIDE
            per_frame[a['video_id'], t].append(mask)
    for masks in per_frame.values():  # visible masks never overlap
        assert (np.sum(masks, axis=0) <= 1).all()
    # every frame shows at least one instance
    assert len(per_frame) == sum(v['length'] for v in data['videos'])


def test_content_spec(toy_vis_default: str) -> None:
    summary = summarize(toy_vis_default)
    for split in SPLITS:
        data = _load(toy_vis_default, f'toy_vis_{split}_ytvis.json')
        s = summary[split]
        assert s['videos'] == (48 if split == 'train' else 12)
        assert sum(n > 0 for n in s['classes'].values()) >= 5
        lengths = [v['length'] for v in data['videos']]
        assert MIN_LEN <= min(lengths) and max(lengths) <= MAX_LEN
        assert (s['length_min'], s['length_max']) == (min(lengths), max(lengths))
        assert all(160 <= min(v['width'], v['height']) and max(v['width'], v['height']) <= 320
                   for v in data['videos'])
        assert s['landscape'] > 0 and s['portrait'] > 0
        per_video = defaultdict(int)
        for a in data['annotations']:
            per_video[a['video_id']] += 1
        assert set(per_video.values()) <= {1, 2, 3, 4} and len(per_video) == len(data['videos'])
        assert s['occlusion_frac'] >= 0.25
        assert s['absent_frac'] >= 0.25
        assert s['min_box_side'] >= MIN_BOX_SIDE
    train = summary['train']
    assert len({n for n, c in train['classes'].items() if c}) == len(CLASSES)
    assert train['landscape'] + train['portrait'] + train['square'] == train['videos']


def test_instances_move_and_scale(toy_vis_default: str) -> None:
    data = _load(toy_vis_default, 'toy_vis_train_ytvis.json')
    moved = scaled = 0
    for a in data['annotations']:
        boxes = [b for b in a['bboxes'] if b is not None]
        centres = np.array([[b[0] + b[2] / 2, b[1] + b[3] / 2] for b in boxes])
        moved += float(np.ptp(centres, axis=0).max()) > 2
        scaled += np.ptp([a for a in a['areas'] if a is not None]) > 0
    assert moved >= 0.9 * len(data['annotations'])
    assert scaled >= 0.9 * len(data['annotations'])


@pytest.mark.parametrize('index', range(6))
def test_render_layers(toy_vis_small: str, index: int) -> None:
    """Visible masks are the drawn masks minus those above them; nothing is drawn outside them."""
    vid = render_video(0, 0, index)
    insts: List[Dict[str, Any]] = vid['instances']
    data = _load(toy_vis_small, 'toy_vis_train_ytvis.json')
    anns = [a for a in data['annotations'] if a['video_id'] == index + 1]
    assert [a['category_id'] for a in anns] == [i['category_id'] for i in insts]
    for t, (frame, bg) in enumerate(zip(vid['frames'], vid['backgrounds'])):
        union = np.zeros(frame.shape[:2], bool)
        for inst, ann in zip(insts, anns):
            vis, full = inst['visible'][t], inst['full'][t]
            assert (vis is None) == (full is None) == (ann['segmentations'][t] is None)
            if vis is None:
                continue
            above = [o['full'][t] for o in insts if o['z'] > inst['z'] and o['full'][t] is not None]
            expected = full & ~np.any(above, axis=0) if above else full
            assert np.array_equal(vis, expected)
            assert np.array_equal(vis, mask_utils.decode(ann['segmentations'][t]).astype(bool))
            union |= vis
        assert not (frame != bg).any(-1)[~union].any(), 'pixels drawn outside every annotated mask'
        written = cv2.imread(osp.join(toy_vis_small, 'train', 'JPEGImages', f'train_{index:04d}', f'{t:05d}.jpg'))
        assert np.abs(written.astype(int) - frame).mean() < 6  # JPEG loss only


def test_determinism(tmp_path: Any) -> None:
    a = generate_toy_vis(str(tmp_path / 'a'), seed=3, num_train=3, num_valid=1)
    b = generate_toy_vis(str(tmp_path / 'b'), seed=3, num_train=3, num_valid=1)
    digest_a = _tree_digest(a)
    assert digest_a == _tree_digest(b)
    assert sum(p.endswith('.jpg') for p in digest_a) > 10
    # per-video seeding: fewer videos leaves the earlier ones unchanged
    c = _tree_digest(generate_toy_vis(str(tmp_path / 'c'), seed=3, num_train=2, num_valid=1))
    assert all(digest_a[p] == h for p, h in c.items() if 'JPEGImages' in p)
    assert any('train_0002' in p for p in digest_a) and not any('train_0002' in p for p in c)
    d = _tree_digest(generate_toy_vis(str(tmp_path / 'd'), seed=4, num_train=3, num_valid=1))
    ann = 'annotations/toy_vis_train_ytvis.json'
    assert d[ann] != digest_a[ann]
    common = set(d) & set(digest_a)
    assert all(d[p] != digest_a[p] for p in common if p.endswith('00000.jpg'))


def test_library_rejects_bad_arguments(tmp_path: Any) -> None:
    for kwargs in (dict(seed=-1), dict(num_train=0), dict(num_valid=-2), dict(seed=1.5), dict(num_train=True)):
        with pytest.raises(ValueError):
            generate_toy_vis(str(tmp_path / 'x'), **kwargs)
    assert not (tmp_path / 'x').exists()
    (tmp_path / 'file').write_text('x')
    with pytest.raises(FileExistsError):
        generate_toy_vis(str(tmp_path / 'file'), num_train=1, num_valid=1, overwrite=True)


def test_failed_replace_keeps_old_data(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    out = generate_toy_vis(str(tmp_path / 'toy'), seed=0, num_train=1, num_valid=1)
    before = _tree_digest(out)
    real_rename = os.rename

    def failing_rename(src: str, dst: str) -> None:
        if '.tmp-' in osp.basename(src):
            raise OSError('disk on fire')
        real_rename(src, dst)

    monkeypatch.setattr(os, 'rename', failing_rename)
    with pytest.raises(OSError, match='disk on fire'):
        generate_toy_vis(out, seed=1, num_train=1, num_valid=1, overwrite=True)
    monkeypatch.undo()
    assert _tree_digest(out) == before
    assert os.listdir(tmp_path) == ['toy'], 'temporary folders left behind'


def test_cli_overwrite(tmp_path: Any) -> None:
    out = tmp_path / 'toy'
    out.mkdir()
    (out / 'keep.txt').write_text('precious')
    res = _run_cli('--out', str(out), '--num-train', '2', '--num-valid', '1')
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and 'overwrite' in res.stderr
    assert 'Traceback' not in res.stderr
    assert sorted(os.listdir(out)) == ['keep.txt'] and sorted(os.listdir(tmp_path)) == ['toy']

    res = _run_cli('--out', str(out), '--num-train', '2', '--num-valid', '1', '--overwrite')
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(out)) == ['annotations', 'train', 'valid']
    assert sorted(os.listdir(tmp_path)) == ['toy'], 'temporary folders left behind'
    assert '[train] videos 2' in res.stdout and '[valid] videos 1' in res.stdout

    res = _run_cli('--out', str(out), '--summary-only')
    assert res.returncode == 0, res.stderr
    assert 'videos with occlusion' in res.stdout

    # an empty folder is fine without --overwrite
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert _run_cli('--out', str(empty), '--num-train', '1', '--num-valid', '1').returncode == 0


@pytest.mark.parametrize('args', [('--num-train', '-1'), ('--num-valid', '0'), ('--seed', 'abc'), ('--seed', '-3'),
                                  ('--bogus',), ()])
def test_cli_bad_arguments(tmp_path: Any, args: tuple) -> None:
    out_args = ('--out', str(tmp_path / 'toy')) if args else ()
    res = _run_cli(*out_args, *args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and 'error' in lines[0] and 'Traceback' not in res.stderr
    assert not (tmp_path / 'toy').exists()


def test_cli_summary_of_missing_dataset(tmp_path: Any) -> None:
    res = _run_cli('--out', str(tmp_path / 'none'), '--summary-only')
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and 'Traceback' not in res.stderr


def test_runs_as_a_script(tmp_path: Any) -> None:
    """The script itself, not only its main(): a small set, and a bad argument as one line with exit status 2."""
    res = run_script(TOOL, '--out', str(tmp_path / 'toy'), '--num-train', '1', '--num-valid', '1')
    assert res.returncode == 0, res.stderr
    assert '[train] videos 1' in res.stdout
    assert sorted(os.listdir(tmp_path / 'toy')) == ['annotations', 'train', 'valid']
    res = run_script(TOOL, '--out', str(tmp_path / 'other'), '--seed', 'abc')
    assert res.returncode == 2 and res.stderr.splitlines() == [
        "make_toy_vis.py: error: argument --seed: expected an integer, got 'abc'"]
