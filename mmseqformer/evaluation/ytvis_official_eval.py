"""YouTube-VIS AP/AR of official-format results against an official-format annotation file.

The metric itself is mmdet's vendored youtubevos cocoapi (``mmdet.evaluation.functional.YTVIS`` /
``YTVISeval``), used unchanged, so the numbers equal those of the evaluation server and of
``YouTubeVISMetric``: track IoU = Σ_frames intersection / Σ_frames union, up to 1/10/100 detections per
(video, category), an object's area = mean of its per-frame areas over the frames where it is present,
area ranges small < 128², medium < 256², large otherwise, detections ranked by score with a stable sort.

What is added here is checking the inputs first: the evaluator silently mis-scores or fails deep inside
pycocotools on results that name unknown videos or categories or have the wrong number of frames.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import numbers
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Union

# Keys of the returned dict and the index of each in YTVISeval.stats.
METRIC_INDICES = dict(AP=0, AP50=1, AP75=2, APs=3, APm=4, APl=5, AR1=6, AR10=7)


class YTVISResultsError(ValueError):
    """Results that do not match the annotation file (unknown ids, wrong frame counts, bad masks)."""


class YTVISAnnotationError(ValueError):
    """A ground-truth annotation file (or dict) that is not official YouTube-VIS json; names the file."""


def _load_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'{what} {path}: no such file') from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        error = YTVISAnnotationError if what == 'annotation file' else YTVISResultsError
        raise error(f'{what} {path}: not a JSON file ({e})') from None
    except IsADirectoryError:
        raise IsADirectoryError(f'{what} {path}: is a folder, not a file') from None


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def load_ytvis_gt(gt: Union[str, Dict[str, Any]]) -> Dict[str, Any]:
    """An official YouTube-VIS annotation dict (a deep copy: the evaluator edits it in place), checked.

    Checked: ``videos``, ``annotations`` and ``categories`` lists; every category has an ``id``; every video
    ``id``, positive integer ``height``/``width`` and ``length`` (or ``file_names``); every annotation
    ``id``, ``video_id`` and ``category_id`` naming a video and a category of the file, and ``segmentations``
    and ``areas`` with one entry per frame of its video (RLE dicts of the video's size, polygon lists or
    null). A missing ``iscrowd`` reads as 0.

    Raises:
        FileNotFoundError: ``gt`` is a missing path.
        YTVISAnnotationError (a ValueError): not JSON, or not in the official format; the message names the
            file (or ``annotation dict``), the video or annotation and the problem.
    """
    data = _load_json(gt, 'annotation file') if isinstance(gt, str) else copy.deepcopy(gt)
    name = f'annotation file {gt}' if isinstance(gt, str) else 'annotation dict'

    def fail(msg: str) -> NoReturn:
        raise YTVISAnnotationError(f'{name}: {msg}')

    if not isinstance(data, dict):
        fail('expected a JSON object with videos/annotations/categories')
    if 'annotations' not in data and isinstance(data.get('videos'), list):
        fail('has no "annotations" (the official valid/test splits have no public ground truth; submit results '
             'to the evaluation server instead)')
    if 'images' in data:
        fail('looks like a CocoVID json (it has "images"); pass the official YouTube-VIS json (e.g. '
             'annotations/*_ytvis.json)')
    for key in ('videos', 'annotations', 'categories'):
        if key not in data:
            fail(f'lacks the key "{key}"')
        if not isinstance(data[key], list):
            fail(f'"{key}" must be a list')
    for i, cat in enumerate(data['categories']):
        if not isinstance(cat, dict) or 'id' not in cat:
            fail(f'category #{i} is not an object with an "id"')
    categories = {c['id'] for c in data['categories']}
    videos: Dict[Any, Dict[str, Any]] = {}
    for i, video in enumerate(data['videos']):
        if not isinstance(video, dict):
            fail(f'video #{i} is not an object')
        missing = [k for k in ('id', 'height', 'width') if k not in video]
        if missing:
            fail(f'video #{i} lacks {", ".join(missing)} (every video needs id, height and width)')
        vid = video['id']
        if vid in videos:
            fail(f'duplicate video id {vid!r}')
        if 'length' not in video and not isinstance(video.get('file_names'), list):
            fail(f'video {vid!r} has neither "length" nor "file_names"')
        for key in ('height', 'width'):
            if not _is_int(video[key]) or video[key] <= 0:
                fail(f'video {vid!r} has {key} {video[key]!r}, not a positive integer')
        if 'length' in video and (not _is_int(video['length']) or video['length'] < 0):
            fail(f'video {vid!r} has length {video["length"]!r}, not an integer >= 0')
        videos[vid] = video
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            fail(f'annotation #{i} is not an object')
        missing = [k for k in ('id', 'video_id', 'category_id', 'segmentations', 'areas') if k not in ann]
        if missing:
            fail(f'annotation #{i} (id {ann.get("id")!r}) lacks {", ".join(missing)}')
        where = f'annotation {ann["id"]!r}'
        video = videos.get(ann['video_id'])
        if video is None:
            fail(f'{where} refers to unknown video {ann["video_id"]!r}')
        if ann['category_id'] not in categories:
            fail(f'{where} refers to unknown category {ann["category_id"]!r}')
        length = _video_length(video)
        for key in ('segmentations', 'areas'):
            if not isinstance(ann[key], list) or len(ann[key]) != length:
                got = len(ann[key]) if isinstance(ann[key], list) else type(ann[key]).__name__
                fail(f'{where} has {got} {key} for video {video["id"]!r} of {length} frames')
        size = [int(video['height']), int(video['width'])]
        for t, seg in enumerate(ann['segmentations']):
            if seg is None or isinstance(seg, list):
                continue
            if not isinstance(seg, dict) or 'counts' not in seg or seg.get('size') != size:
                fail(f'{where} frame {t}: a segmentation must be null, a polygon list or an RLE dict of the video '
                     f'size {size}')
        ann.setdefault('iscrowd', 0)
    return data


def _video_length(video: Dict[str, Any]) -> int:
    return int(video['length']) if 'length' in video else len(video['file_names'])


def _check_rle(seg: Any, where: str, height: int, width: int) -> Dict[str, Any]:
    """A compressed RLE dict of the video's size; uncompressed RLE (list counts) is compressed."""
    from pycocotools import mask as mask_utils

    if not isinstance(seg, dict) or 'counts' not in seg or 'size' not in seg:
        raise YTVISResultsError(f'{where}: a segmentation must be an RLE dict with "size" and "counts" or null')
    size = seg['size']
    if not isinstance(size, (list, tuple)) or [int(v) for v in size] != [height, width]:
        raise YTVISResultsError(f'{where}: mask size {size} differs from the video size [{height}, {width}]')
    counts = seg['counts']
    if isinstance(counts, list):
        return mask_utils.frPyObjects(dict(size=[height, width], counts=counts), height, width)
    if not isinstance(counts, (str, bytes)):
        raise YTVISResultsError(f'{where}: RLE counts must be a string or a list of ints')
    return seg


def check_ytvis_results(gt: Dict[str, Any], results: Any, source: Optional[str] = None) -> List[Dict[str, Any]]:
    """Validated deep copy of official-format results for the annotation dict ``gt``.

    Each result: ``{video_id, score, category_id, segmentations}`` with one entry per frame of the video,
    an RLE dict or ``None`` where the instance is absent. ``source`` (e.g. the results file) starts every
    error message when given.

    Raises:
        YTVISResultsError: naming the first problem (and the result's index).
    """
    try:
        return _check_ytvis_results(gt, results)
    except YTVISResultsError as e:
        if source is None:
            raise
        raise YTVISResultsError(f'{source}: {e}') from None


def _check_ytvis_results(gt: Dict[str, Any], results: Any) -> List[Dict[str, Any]]:
    if not isinstance(results, list):
        raise YTVISResultsError(f'results must be a list of objects, got {type(results).__name__}')
    videos = {v['id']: v for v in gt['videos']}
    categories = {c['id'] for c in gt['categories']}
    checked = []
    for i, res in enumerate(results):
        where = f'result {i}'
        if not isinstance(res, dict):
            raise YTVISResultsError(f'{where}: expected an object, got {type(res).__name__}')
        missing = [k for k in ('video_id', 'score', 'category_id', 'segmentations') if k not in res]
        if missing:
            raise YTVISResultsError(f'{where}: missing {", ".join(missing)}')
        video = videos.get(res['video_id'])
        if video is None:
            raise YTVISResultsError(f'{where}: unknown video_id {res["video_id"]!r} (not in the annotation file)')
        if res['category_id'] not in categories:
            raise YTVISResultsError(f'{where}: unknown category_id {res["category_id"]!r} '
                                    f'(annotation categories: {sorted(categories)})')
        score = res['score']
        if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(score):
            raise YTVISResultsError(f'{where}: score must be a finite number, got {score!r}')
        segs = res['segmentations']
        length = _video_length(video)
        if not isinstance(segs, list) or len(segs) != length:
            got = len(segs) if isinstance(segs, list) else type(segs).__name__
            raise YTVISResultsError(f'{where}: video {res["video_id"]} has {length} frames but the result has '
                                    f'{got} segmentations')
        h, w = int(video['height']), int(video['width'])
        segs = [None if s is None else _check_rle(s, f'{where} frame {t}', h, w) for t, s in enumerate(segs)]
        checked.append(dict(copy.deepcopy(res), segmentations=copy.deepcopy(segs), score=float(score)))
    return checked


def evaluate_ytvis_results(gt: Union[str, Dict[str, Any]], results: Union[str, Sequence[Dict[str, Any]]],
                           verbose: bool = False, results_name: Optional[str] = None) -> Dict[str, float]:
    """YouTube-VIS segmentation AP/AR of ``results`` (official format) against the annotations ``gt``.

    Args:
        gt: path of an official YouTube-VIS annotation json or its loaded dict (not modified).
        results: a list of ``{video_id, score, category_id, segmentations}`` (RLE or ``None`` per frame),
            or the path of such a json file (the ``results.json`` of a server submission). Not modified.
        verbose: print the evaluator's progress and summary table (it goes to stdout).
        results_name: what results errors start with (default: ``results file PATH`` for a path, nothing for
            a list).

    Returns:
        ``{'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10'}`` as floats on a [0, 1] scale rounded to
        10 decimals; -1.0 (the evaluator's convention) where no ground truth falls in that area range.

    Raises:
        YTVISResultsError: results with unknown video or category ids, a wrong number of segmentations for
            their video, or malformed masks; or a results path that is not JSON.
        YTVISAnnotationError: an annotation file that is not JSON or not in the official format (see
            :func:`load_ytvis_gt`). Both are ValueErrors.
        FileNotFoundError: a path that does not exist.
    """
    # importing mmseqformer (this package) installed the numpy-alias shim the vendored evaluator needs
    from mmdet.evaluation.functional import YTVIS, YTVISeval

    gt_data = load_ytvis_gt(gt)
    if isinstance(results, str):
        if results_name is None:
            results_name = f'results file {results}'
        results = _load_json(results, 'results file')
    dets = check_ytvis_results(gt_data, results, results_name)

    out = io.StringIO()
    with contextlib.redirect_stdout(out) if not verbose else contextlib.nullcontext():
        ytvis_gt = YTVIS(gt_data)
        if dets:
            ytvis_dt = ytvis_gt.loadRes(dets)
        else:  # loadRes indexes the first result; no detections simply score 0
            ytvis_dt = YTVIS()
            ytvis_dt.dataset = dict(videos=list(gt_data['videos']), categories=copy.deepcopy(gt_data['categories']),
                                    annotations=[])
            ytvis_dt.createIndex()
        evaluator = YTVISeval(ytvis_gt, ytvis_dt, 'segm')
        evaluator.params.vidIds = ytvis_gt.getVidIds()
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # precision is tp / (tp + fp + eps) in the evaluator: rounding drops that 1e-16 noise (a perfect result
    # reads 1.0, not 0.9999999999999998) and nothing a metric can resolve
    return {key: round(float(evaluator.stats[idx]), 10) for key, idx in METRIC_INDICES.items()}
