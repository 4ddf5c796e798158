"""Dump per-video VIS predictions to a pickle (``tools/test.py --out``).

mmdet's ``DumpDetResults`` handles image samples only: given video samples it would pickle every frame's
full-resolution mask tensors. This metric stores RLE masks per frame plus the official-format instances
(the same aggregation as ``YouTubeVISMetric``), so a dump can be scored later with
``tools/analysis_tools/ytvis_eval.py``.
"""
from __future__ import annotations

import os
import os.path as osp
import pickle
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmdet.registry import METRICS
from mmdet.structures.mask import encode_mask_results
from mmengine.evaluator import BaseMetric


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, 'detach') else np.asarray(value)


def official_instances(video_id: Any, frames: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per-frame predictions grouped by ``instances_id`` into official YouTube-VIS results.

    As ``YouTubeVISMetric``: score = mean of the per-frame scores, ``category_id`` = the majority label + 1,
    ``None`` in the frames where the instance is absent.
    """
    grouped: Dict[int, Dict[str, Any]] = defaultdict(lambda: dict(scores=[], labels=[], masks={}))
    for frame_id, frame in enumerate(frames):
        pred = frame['pred_track_instances']
        for j, inst_id in enumerate(pred['instances_id'].tolist()):
            entry = grouped[inst_id]
            entry['scores'].append(float(pred['scores'][j]))
            entry['labels'].append(int(pred['labels'][j]))
            entry['masks'][frame_id] = pred['masks'][j]
    return [
        dict(video_id=video_id, score=float(np.mean(entry['scores'])),
             category_id=int(np.bincount(entry['labels']).argmax()) + 1,
             segmentations=[entry['masks'].get(t) for t in range(len(frames))])
        for entry in grouped.values()
    ]


@METRICS.register_module()
class DumpVISResults(BaseMetric):
    """Collect VIS predictions and write them to ``out_file_path`` (written to a temporary name, then renamed).

    The pickle holds a list with one dict per video::

        dict(video_id=..., frames=[dict(img_id, frame_id, img_path, ori_shape,
                                        pred_track_instances=dict(bboxes, scores, labels, instances_id,
                                                                  masks=[RLE per instance]))],
             official=[dict(video_id, score, category_id, segmentations)])

    Args:
        out_file_path: ``.pkl`` or ``.pickle`` path.
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering from all ranks.
    """

    def __init__(self, out_file_path: str, collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not out_file_path.endswith(('.pkl', '.pickle')):
            raise ValueError(f'out_file_path must end with .pkl or .pickle, got {out_file_path}')
        self.out_file_path = out_file_path

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for track_sample in data_samples:
            video = track_sample['video_data_samples']
            frames = []
            for frame_id, sample in enumerate(video):
                pred = sample.pred_track_instances
                masks = _numpy(pred.masks).astype(np.uint8) if 'masks' in pred else None
                frames.append(dict(
                    img_id=sample.get('img_id'), frame_id=sample.get('frame_id', frame_id),
                    img_path=sample.get('img_path'), ori_shape=tuple(sample.get('ori_shape', ())),
                    pred_track_instances=dict(
                        bboxes=_numpy(pred.bboxes), scores=_numpy(pred.scores), labels=_numpy(pred.labels),
                        instances_id=_numpy(pred.instances_id),
                        masks=[] if masks is None else encode_mask_results(masks))))
            for frame in frames:  # json-friendly RLE counts, as in the official results
                for rle in frame['pred_track_instances']['masks']:
                    if isinstance(rle['counts'], bytes):
                        rle['counts'] = rle['counts'].decode()
            video_id = video[0].get('video_id')
            has_masks = all(len(f['pred_track_instances']['masks']) == len(f['pred_track_instances']['scores'])
                            for f in frames)
            self.results.append(dict(video_id=video_id, frames=frames,
                                     official=official_instances(video_id, frames) if has_masks else []))

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        out_dir = osp.dirname(osp.abspath(self.out_file_path))
        os.makedirs(out_dir, exist_ok=True)
        tmp = osp.join(out_dir, f'.{osp.basename(self.out_file_path)}.{os.getpid()}.tmp')
        try:
            with open(tmp, 'wb') as f:
                pickle.dump(list(results), f)
            os.replace(tmp, self.out_file_path)
        finally:
            if osp.exists(tmp):
                os.remove(tmp)
        return {}
