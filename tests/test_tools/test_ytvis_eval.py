"""YouTube-VIS AP on hand-made results with hand-derived values, and tools/analysis_tools/ytvis_eval.py."""
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mmseqformer.evaluation import YTVISAnnotationError, YTVISResultsError, evaluate_ytvis_results
from mmseqformer.evaluation.ytvis_official_eval import METRIC_INDICES
from tests.tool_runner import run_in_process

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'ytvis_eval.py')
KEYS = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10']


def rle(h, w, box=None):
    """Compressed RLE of an (h, w) mask that is 1 inside box = (x0, y0, x1, y1); None for box None."""
    if box is None:
        return None
    m = np.zeros((h, w), dtype=np.uint8, order='F')
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 1
    r = mask_utils.encode(m)
    r['counts'] = r['counts'].decode()
    return r


def make_gt(videos, instances):
    """videos: {id: (h, w, length)}; instances: list of (video_id, category_id, [box or None per frame])."""
    anns = []
    for i, (vid, cat, boxes) in enumerate(instances, 1):
        h, w, _ = videos[vid]
        segs = [rle(h, w, b) for b in boxes]
        anns.append(dict(id=i, video_id=vid, category_id=cat, iscrowd=0, height=h, width=w, length=len(boxes),
                         segmentations=segs, areas=[None if s is None else int(mask_utils.area(s)) for s in segs],
                         bboxes=[None if b is None else [b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes]))
    return dict(videos=[dict(id=v, height=h, width=w, length=n, file_names=[f'v{v}/{t:05d}.jpg' for t in range(n)])
                        for v, (h, w, n) in videos.items()],
                annotations=anns, categories=[dict(id=c, name=f'c{c}', supercategory='x') for c in (1, 2, 3)])


def result(gt, vid, cat, score, boxes):
    h, w = next((v['height'], v['width']) for v in gt['videos'] if v['id'] == vid)
    return dict(video_id=vid, category_id=cat, score=score, segmentations=[rle(h, w, b) for b in boxes])


def perfect(gt, score=1.0):
    return [dict(video_id=a['video_id'], category_id=a['category_id'], score=score,
                 segmentations=copy.deepcopy(a['segmentations'])) for a in gt['annotations']]


@pytest.fixture
def two_sizes():
    # A: 100x100 (10,000 px), absent, 173x173 (29,929 px): mean over present frames 19,964.5 -> medium
    # (a mean over all three frames, 13,309.7, would be small); B: 20x20 (400 px) -> small.
    return make_gt({1: (200, 200, 3)}, [(1, 1, [(0, 0, 100, 100), None, (0, 0, 173, 173)]),
                                         (1, 2, [(180, 180, 200, 200)] * 3)])


def test_perfect_results_score_one_and_area_is_mean_over_present_frames(two_sizes):
    gt_before = copy.deepcopy(two_sizes)
    res = perfect(two_sizes)
    res_before = copy.deepcopy(res)
    metrics = evaluate_ytvis_results(two_sizes, res)
    assert list(metrics) == KEYS
    assert metrics == dict(AP=1.0, AP50=1.0, AP75=1.0, APs=1.0, APm=1.0, APl=-1.0, AR1=1.0, AR10=1.0)
    assert two_sizes == gt_before and res == res_before  # the evaluator edits its inputs; we pass copies


def test_half_the_frames_missing_gives_iou_one_half():
    # GT: a 10x5 box (50 px) in both frames of a 20x20 video. The prediction has frame 0 exact and frame 1
    # empty: IoU = (50 + 0) / (50 + 50) = 0.5 exactly. It matches at the 0.50 threshold only (a match needs
    # IoU >= threshold), where precision is 1 at every recall level: AP50 = 1, AP75 = 0,
    # AP = mean over the 10 thresholds = 1/10; recall likewise 1 at one threshold of 10: AR = 0.1.
    # 50 px < 128^2: small; no medium/large ground truth -> -1.
    gt = make_gt({1: (20, 20, 2)}, [(1, 1, [(0, 0, 10, 5)] * 2)])
    metrics = evaluate_ytvis_results(gt, [result(gt, 1, 1, 0.9, [(0, 0, 10, 5), None])])
    assert metrics == pytest.approx(dict(AP=0.1, AP50=1.0, AP75=0.0, APs=0.1, APm=-1.0, APl=-1.0,
                                         AR1=0.1, AR10=0.1))


def test_track_iou_sums_intersections_and_unions_over_frames():
    # Frame 0: 100 px, predicted exactly; frame 1: 20 px, missed. Summed: 100 / 120 = 0.833, a match at
    # thresholds 0.50..0.80 (7 of 10): AP = 0.7, AP75 = 1. (A mean of per-frame IoUs, 0.5, would give 0.1.)
    gt = make_gt({1: (40, 40, 2)}, [(1, 1, [(0, 0, 10, 10), (0, 0, 4, 5)])])
    metrics = evaluate_ytvis_results(gt, [result(gt, 1, 1, 0.9, [(0, 0, 10, 10), None])])
    assert metrics['AP'] == pytest.approx(0.7)
    assert metrics['AP50'] == 1.0 and metrics['AP75'] == 1.0
    assert metrics['AR10'] == pytest.approx(0.7)


def disjoint_pairs():
    boxes_a, boxes_b = [(0, 0, 10, 10)] * 2, [(20, 20, 30, 30)] * 2
    gt = make_gt({1: (40, 40, 2), 2: (40, 40, 2)},
                 [(1, 1, boxes_a), (1, 2, boxes_b), (2, 1, boxes_a), (2, 2, boxes_b)])
    return gt, boxes_a, boxes_b


def test_swapped_category_ids_lower_ap():
    gt, boxes_a, boxes_b = disjoint_pairs()
    correct = [result(gt, 1, 1, 0.9, boxes_a), result(gt, 1, 2, 0.9, boxes_b)]
    swapped_v2 = [result(gt, 2, 1, 0.8, boxes_b), result(gt, 2, 2, 0.8, boxes_a)]
    assert evaluate_ytvis_results(gt, correct + [result(gt, 2, 1, 0.8, boxes_a), result(gt, 2, 2, 0.8, boxes_b)]) \
        == dict(AP=1.0, AP50=1.0, AP75=1.0, APs=1.0, APm=-1.0, APl=-1.0, AR1=1.0, AR10=1.0)
    # Per category: a true positive (0.9) then a false positive (0.8; its mask does not overlap the GT of
    # that category): recall 1/2 at precision 1. COCO-style 101-point interpolation: precision 1 at the
    # 51 recall levels 0.00..0.50 and 0 at the 50 above, so AP = 51/101 at every IoU threshold; AR = 0.5.
    metrics = evaluate_ytvis_results(gt, correct + swapped_v2)
    assert metrics == pytest.approx(dict(AP=51 / 101, AP50=51 / 101, AP75=51 / 101, APs=51 / 101, APm=-1.0,
                                         APl=-1.0, AR1=0.5, AR10=0.5))
    # every pair swapped: nothing matches
    all_swapped = [result(gt, v, 1, 0.9, boxes_b) for v in (1, 2)] + [result(gt, v, 2, 0.9, boxes_a) for v in (1, 2)]
    assert evaluate_ytvis_results(gt, all_swapped)['AP'] == 0.0


def test_max_detections_count_per_video_and_category():
    # two instances of one category in one video, both found: AR1 keeps the best-scored one -> recall 1/2
    gt = make_gt({1: (40, 40, 1)}, [(1, 3, [(0, 0, 10, 10)]), (1, 3, [(20, 20, 30, 30)])])
    metrics = evaluate_ytvis_results(gt, [result(gt, 1, 3, 0.9, [(0, 0, 10, 10)]),
                                          result(gt, 1, 3, 0.8, [(20, 20, 30, 30)])])
    assert metrics['AP'] == 1.0 and metrics['AR10'] == 1.0 and metrics['AR1'] == 0.5


def test_no_results_score_zero(two_sizes):
    assert evaluate_ytvis_results(two_sizes, []) == dict(AP=0.0, AP50=0.0, AP75=0.0, APs=0.0, APm=0.0, APl=-1.0,
                                                         AR1=0.0, AR10=0.0)


@pytest.mark.parametrize('change,words', [
    (dict(video_id=7), ['result 0', 'unknown video_id 7']),
    (dict(category_id=9), ['result 0', 'unknown category_id 9']),
    (dict(segmentations=[None, None]), ['result 0', '3 frames', '2 segmentations']),
    (dict(segmentations='abc'), ['3 frames']),
    (dict(score=float('nan')), ['score']),
    (dict(score='high'), ['score']),
    (dict(segmentations=[None, dict(size=[100, 100], counts='0'), None]), ['frame 1', 'mask size']),
    (dict(segmentations=[None, [[0, 0, 5, 5, 0, 5]], None]), ['frame 1', 'RLE']),
])
def test_results_are_validated(two_sizes, change, words):
    bad = perfect(two_sizes)
    bad[0].update(change)
    with pytest.raises(YTVISResultsError) as info:
        evaluate_ytvis_results(two_sizes, bad)
    for word in words:
        assert word in str(info.value)


def test_missing_keys_and_non_list_results(two_sizes):
    with pytest.raises(YTVISResultsError, match='missing score'):
        evaluate_ytvis_results(two_sizes, [dict(video_id=1, category_id=1, segmentations=[None] * 3)])
    with pytest.raises(YTVISResultsError, match='must be a list'):
        evaluate_ytvis_results(two_sizes, {'video_id': 1})


def test_uncompressed_rle_is_accepted(two_sizes):
    res = perfect(two_sizes)
    m = mask_utils.decode(res[1]['segmentations'][0])
    # column-major run lengths: the uncompressed form pycocotools produces
    flat = m.flatten(order='F')
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    res[1]['segmentations'] = [dict(size=[200, 200], counts=counts)] * 3
    assert evaluate_ytvis_results(two_sizes, res)['AP'] == 1.0


def test_gt_without_ground_truth_is_a_value_error(two_sizes):
    no_gt = {k: v for k, v in two_sizes.items() if k != 'annotations'}
    with pytest.raises(ValueError, match='no public ground truth') as info:
        evaluate_ytvis_results(no_gt, [])
    assert not isinstance(info.value, YTVISResultsError)
    with pytest.raises(ValueError, match='CocoVID'):
        evaluate_ytvis_results(dict(two_sizes, images=[]), [])


def test_metric_indices_match_the_evaluator_summary():
    # stats order of YTVISeval.summarize(): AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ...
    assert METRIC_INDICES == dict(AP=0, AP50=1, AP75=2, APs=3, APm=4, APl=5, AR1=6, AR10=7)


# ---------------------------------------------------------------- the CLI on the toy valid split

def run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def run_main(*args):
    """``run`` without a new process (see tests/tool_runner.py)."""
    return run_in_process('analysis_tools/ytvis_eval.py', *map(str, args))


def assert_rejected(proc, *words):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert lines[0].startswith('ytvis_eval.py: error:')
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope='module')
def toy_valid(toy_vis_small):
    path = osp.join(toy_vis_small, 'annotations', 'toy_vis_valid_ytvis.json')
    with open(path) as f:
        return path, json.load(f)


def expected_ar1(gt):
    """Recall with one detection per (video, category) when every instance is found, averaged over categories."""
    per_cat = {}
    for a in gt['annotations']:
        per_cat.setdefault(a['category_id'], {}).setdefault(a['video_id'], 0)
        per_cat[a['category_id']][a['video_id']] += 1
    return float(np.mean([len(v) / sum(v.values()) for v in per_cat.values()]))


def test_cli_perfect_results_on_toy_valid(toy_valid, tmp_path):
    gt_path, gt = toy_valid
    res_path = tmp_path / 'results.json'
    res_path.write_text(json.dumps(perfect(gt, score=0.5)))
    out = tmp_path / 'metrics.json'
    proc = run(gt_path, res_path, '--out', out)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)  # stdout is only the JSON (the evaluator's prints are silenced)
    assert list(metrics) == KEYS
    assert metrics['AP'] == metrics['AP50'] == metrics['AP75'] == metrics['AR10'] == 1.0
    assert metrics['AR1'] == pytest.approx(expected_ar1(gt))
    assert json.loads(out.read_text()) == metrics
    # --out never replaces a file
    again = run_main(gt_path, res_path, '--out', out)
    assert_rejected(again, 'exists')
    assert json.loads(out.read_text()) == metrics


def test_cli_reads_submission_zip(toy_valid, tmp_path):
    sys.path.insert(0, osp.dirname(TOOL))
    try:
        import ytvis_eval
    finally:
        sys.path.pop(0)
    gt = toy_valid[1]
    zpath = tmp_path / 'sub.zip'
    with zipfile.ZipFile(zpath, 'w') as zf:
        zf.writestr('results.json', json.dumps(perfect(gt)))
    assert ytvis_eval.load_results(str(zpath)) == perfect(gt)
    with zipfile.ZipFile(tmp_path / 'empty.zip', 'w') as zf:
        zf.writestr('other.json', '[]')
    with pytest.raises(ValueError, match='no results.json'):
        ytvis_eval.load_results(str(tmp_path / 'empty.zip'))


def test_cli_bad_inputs(toy_valid, toy_vis_small, tmp_path):
    gt_path, gt = toy_valid
    assert_rejected(run(gt_path, tmp_path / 'none.json'), 'no such file')  # the script itself; the rest in-process
    (tmp_path / 'bad.json').write_text('{not json')
    assert_rejected(run_main(gt_path, tmp_path / 'bad.json'), 'not a JSON file')
    res = perfect(gt)
    res[3]['video_id'] = 999
    (tmp_path / 'unknown.json').write_text(json.dumps(res))
    assert_rejected(run_main(gt_path, tmp_path / 'unknown.json'), f'results {tmp_path / "unknown.json"}: result 3',
                    'unknown video_id 999')
    cocovid = osp.join(toy_vis_small, 'annotations', 'toy_vis_valid.json')
    (tmp_path / 'ok.json').write_text(json.dumps(perfect(gt)))
    assert_rejected(run_main(cocovid, tmp_path / 'ok.json'), 'CocoVID')
    assert_rejected(run_main(gt_path), 'arguments are required')


# ---------------------------------------------------------------- ground truth that is not official json

def _pop(*path):
    def corrupt(gt):
        obj = gt
        for key in path[:-1]:
            obj = obj[key]
        obj.pop(path[-1])
    return corrupt


def _set(value, *path):
    def corrupt(gt):
        obj = gt
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return corrupt


GT_CASES = {
    'no videos': (_pop('videos'), 'lacks the key "videos"'),
    'no categories': (_pop('categories'), 'lacks the key "categories"'),
    'annotations not a list': (_set({}, 'annotations'), '"annotations" must be a list'),
    'category without id': (_pop('categories', 1, 'id'), 'category #1'),
    'video without id': (_pop('videos', 0, 'id'), 'video #0 lacks id'),
    'video without width': (_pop('videos', 0, 'width'), 'video #0 lacks width'),
    'video without length or file names': (lambda gt: [gt['videos'][0].pop(k) for k in ('length', 'file_names')],
                                           'video 1 has neither "length" nor "file_names"'),
    'video height a string': (_set('200', 'videos', 0, 'height'), "video 1 has height '200', not a positive integer"),
    'negative length': (_set(-1, 'videos', 0, 'length'), 'video 1 has length -1'),
    'annotation not an object': (_set([], 'annotations', 1), 'annotation #1 is not an object'),
    'annotation without video_id': (_pop('annotations', 0, 'video_id'), 'annotation #0 (id 1) lacks video_id'),
    'annotation without category_id': (_pop('annotations', 1, 'category_id'), 'annotation #1 (id 2) lacks category_id'),
    'annotation without segmentations': (_pop('annotations', 0, 'segmentations'),
                                         'annotation #0 (id 1) lacks segmentations'),
    'annotation without id': (_pop('annotations', 0, 'id'), 'annotation #0 (id None) lacks id'),
    'annotation of an unknown video': (_set(5, 'annotations', 1, 'video_id'), 'annotation 2 refers to unknown video 5'),
    'annotation of an unknown category': (_set(9, 'annotations', 1, 'category_id'),
                                          'annotation 2 refers to unknown category 9'),
    'too few segmentations': (lambda gt: gt['annotations'][0]['segmentations'].pop(),
                              'annotation 1 has 2 segmentations for video 1 of 3 frames'),
    'too many areas': (lambda gt: gt['annotations'][1]['areas'].append(5), 'annotation 2 has 4 areas'),
    'RLE of the wrong size': (_set(dict(size=[20, 20], counts='0'), 'annotations', 1, 'segmentations', 2),
                              'annotation 2 frame 2: a segmentation must be null, a polygon list or an RLE dict'),
}


@pytest.mark.parametrize('case', sorted(GT_CASES))
def test_ground_truth_is_validated(two_sizes, case, tmp_path):
    corrupt, words = GT_CASES[case]
    gt = copy.deepcopy(two_sizes)
    corrupt(gt)
    with pytest.raises(YTVISAnnotationError) as info:
        evaluate_ytvis_results(gt, perfect(two_sizes))
    assert str(info.value).startswith('annotation dict: ') and words in str(info.value), str(info.value)
    assert isinstance(info.value, ValueError) and not isinstance(info.value, YTVISResultsError)
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt))
    with pytest.raises(YTVISAnnotationError, match='annotation file ' + str(path)):
        evaluate_ytvis_results(str(path), [])


def test_ground_truth_without_iscrowd_is_accepted(two_sizes):
    for ann in two_sizes['annotations']:
        del ann['iscrowd']
    assert evaluate_ytvis_results(two_sizes, perfect(two_sizes))['AP'] == 1.0


def test_results_errors_name_the_results_file(two_sizes, tmp_path):
    bad = perfect(two_sizes)
    bad[1]['video_id'] = 7
    path = tmp_path / 'res.json'
    path.write_text(json.dumps(bad))
    with pytest.raises(YTVISResultsError, match=f'^results file {path}: result 1: unknown video_id 7'):
        evaluate_ytvis_results(two_sizes, str(path))
    with pytest.raises(YTVISResultsError, match='^mine: result 1: unknown video_id 7'):
        evaluate_ytvis_results(two_sizes, bad, results_name='mine')
    path.write_text('[{')
    with pytest.raises(YTVISResultsError, match=f'results file {path}: not a JSON file'):
        evaluate_ytvis_results(two_sizes, str(path))


@pytest.fixture
def ytvis_eval_main():
    sys.path.insert(0, osp.dirname(TOOL))
    try:
        import ytvis_eval
    finally:
        sys.path.pop(0)
    return ytvis_eval.main


def main_rejected(main, capsys, args, *words):
    """The CLI in-process (mmdet is already imported here): exit 2 and one error line with ``words``."""
    assert main([str(a) for a in args]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert out == '' and len(lines) == 1 and lines[0].startswith('ytvis_eval.py: error: '), err
    for word in words:
        assert word in lines[0], lines[0]


def test_cli_bad_ground_truth(two_sizes, ytvis_eval_main, capsys, tmp_path):
    res = tmp_path / 'results.json'
    res.write_text(json.dumps(perfect(two_sizes)))
    gt = tmp_path / 'gt.json'
    gt.write_text('{"videos": [')
    main_rejected(ytvis_eval_main, capsys, [gt, res], f'annotation file {gt}: not a JSON file')
    gt.write_bytes(b'\xff\xfe{}')
    main_rejected(ytvis_eval_main, capsys, [gt, res], f'annotation file {gt}: not a JSON file')
    for corrupt, words in (GT_CASES['no categories'], GT_CASES['video without length or file names'],
                           GT_CASES['annotation without segmentations'], GT_CASES['annotation without video_id']):
        data = copy.deepcopy(two_sizes)
        corrupt(data)
        gt.write_text(json.dumps(data))
        main_rejected(ytvis_eval_main, capsys, [gt, res], f'annotation file {gt}: {words}')
    main_rejected(ytvis_eval_main, capsys, [tmp_path / 'none.json', res], 'annotation file', 'none.json',
                  'no such file')
    out = tmp_path / 'metrics.json'
    main_rejected(ytvis_eval_main, capsys, [gt, res, '--out', out], str(gt))
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ['gt.json', 'results.json']


def test_cli_corrupt_zip(two_sizes, ytvis_eval_main, capsys, tmp_path):
    gt = tmp_path / 'gt.json'
    gt.write_text(json.dumps(two_sizes))
    good = tmp_path / 'sub.zip'
    with zipfile.ZipFile(good, 'w', compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('results.json', json.dumps(perfect(two_sizes)))
    data = good.read_bytes()
    assert ytvis_eval_main([str(gt), str(good)]) == 0
    assert json.loads(capsys.readouterr().out)['AP'] == 1.0
    # cut in the middle: no end-of-archive record
    cut = tmp_path / 'cut.zip'
    cut.write_bytes(data[:len(data) // 2])
    main_rejected(ytvis_eval_main, capsys, [gt, cut], f'results {cut}: a truncated or corrupt zip')
    # the archive structure intact, the compressed member damaged: BadZipFile / zlib.error on reading
    header = 30 + len('results.json')
    damaged = tmp_path / 'damaged.zip'
    flipped = bytes(b ^ 0xFF for b in data[header + 10:header + 40])
    damaged.write_bytes(data[:header + 10] + flipped + data[header + 40:])
    main_rejected(ytvis_eval_main, capsys, [gt, damaged], f'results {damaged}: a corrupt zip')
    # results that do not match name the zip
    with zipfile.ZipFile(good, 'w') as zf:
        zf.writestr('results.json', json.dumps([dict(perfect(two_sizes)[0], category_id=9)]))
    main_rejected(ytvis_eval_main, capsys, [gt, good], f'results {good}: result 0: unknown category_id 9')
