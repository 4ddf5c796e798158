"""``TrackVisualizationHook`` for YouTube-VIS-style folders (``tools/test.py --show-dir``).

Two problems of mmdet 3.3.0's hook when it saves test drawings:

* it names the output folder of a frame after ``img_path.split('/')[-3]``, which is the video for MOT
  layouts (``video/img1/000001.jpg``) but ``JPEGImages`` for YouTube-VIS (``JPEGImages/video/00000.jpg``),
  so the frames of all videos share one folder and overwrite each other;
* it prefixes ``test_out_dir`` with ``work_dir/timestamp`` on every test iteration, so a relative folder
  nests one level deeper per video;
* ``TrackLocalVisualizer`` reads ``gt_instances.instances_id`` while ``PackTrackInputs`` stores
  ``instances_ids``, so drawing ground truth fails;
* ``TrackLocalVisualizer`` picks instance colours from seaborn's palette and raises without seaborn,
  which mmdet does not require: the hook gives it seaborn's default palette when seaborn is missing.
"""
from __future__ import annotations

import os.path as osp
from typing import Any, Optional, Sequence

import mmcv
from mmdet.engine.hooks import TrackVisualizationHook
from mmdet.registry import HOOKS
from mmengine.fileio import get
from mmengine.utils import mkdir_or_exist

from ...visualization.palette import ensure_palette


@HOOKS.register_module()
class VideoVisualizationHook(TrackVisualizationHook):
    """Saves drawings to ``test_out_dir/<video folder>/<frame file>``.

    A relative ``test_out_dir`` is placed under ``work_dir/<timestamp>/`` once (mmdet's convention).

    Args:
        draw_gt: also draw the ground truth (left of the predictions) where the sample has any.
        *args, **kwargs: as :class:`mmdet.engine.hooks.TrackVisualizationHook`.
    """

    def __init__(self, *args: Any, draw_gt: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.draw_gt = draw_gt
        self._out_dir_resolved = False
        if self.draw:
            ensure_palette()

    def after_test_iter(self, runner: Any, batch_idx: int, data_batch: dict, outputs: Sequence[Any]) -> None:
        if self.draw and self.test_out_dir is not None and not self._out_dir_resolved:
            # absolute, so the parent's osp.join(work_dir, timestamp, ...) leaves it unchanged
            self.test_out_dir = osp.abspath(osp.join(runner.work_dir, runner.timestamp, self.test_out_dir))
            self._out_dir_resolved = True
        super().after_test_iter(runner, batch_idx, data_batch, outputs)

    def visualize_single_image(self, img_data_sample: Any, step: int) -> None:
        img_path = img_data_sample.img_path
        img = mmcv.imfrombytes(get(img_path, backend_args=self.backend_args), channel_order='rgb')
        out_file: Optional[str] = None
        if self.test_out_dir is not None:
            video_dir = osp.join(self.test_out_dir, osp.basename(osp.dirname(img_path)))
            mkdir_or_exist(video_dir)
            out_file = osp.join(video_dir, osp.basename(img_path))
        sample = img_data_sample
        draw_gt = self.draw_gt and 'gt_instances' in sample and len(sample.gt_instances) > 0
        if draw_gt:
            sample = sample.clone()  # the evaluator has already used the sample; still, do not alter it
            gt = sample.gt_instances
            if 'instances_id' not in gt and 'instances_ids' in gt:
                gt.instances_id = gt.instances_ids
            if 'masks' in gt and hasattr(gt.masks, 'to_ndarray'):  # BitmapMasks; the drawer wants arrays
                gt.masks = gt.masks.to_ndarray().astype(bool)
        self._visualizer.add_datasample(
            osp.basename(img_path) if self.show else 'test_img', img, data_sample=sample, draw_gt=draw_gt,
            show=self.show, wait_time=self.wait_time, pred_score_thr=self.score_thr, out_file=out_file, step=step)
