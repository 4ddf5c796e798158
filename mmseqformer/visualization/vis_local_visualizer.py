"""Draws video instance predictions with one-line ``class | id | score`` labels."""
from __future__ import annotations

import numpy as np
from mmdet.registry import VISUALIZERS
from mmdet.structures.mask import bitmap_to_polygon
from mmdet.visualization import TrackLocalVisualizer
from mmdet.visualization.local_visualizer import random_color
from mmdet.visualization.palette import _get_adaptive_scales
from mmengine.structures import InstanceData

from .palette import ensure_palette


@VISUALIZERS.register_module()
class VISLocalVisualizer(TrackLocalVisualizer):
    """``TrackLocalVisualizer`` whose labels read ``class | id | score`` on one line.

    Colours come from the instance id (mmdet's ``random_color``), so an instance keeps its colour over
    the whole video; masks are filled with it and outlined in white, boxes drawn in it.
    """

    def __init__(self, name: str = 'visualizer', **kwargs) -> None:
        ensure_palette()
        super().__init__(name=name, **kwargs)

    def _draw_instances(self, image: np.ndarray, instances: InstanceData) -> np.ndarray:
        """Draw ``instances`` (``masks`` (k, H, W) bool, ``bboxes`` (k, 4) xyxy, ``labels``, ``scores``,
        ``instances_id``) on the RGB ``image``; returns the drawing (RGB)."""
        self.set_image(image)
        if len(instances) == 0:
            return self.get_image()
        classes = (self.dataset_meta or {}).get('classes')
        ids = [int(i) for i in instances.instances_id]
        colors = [random_color(i) for i in ids]
        names = [classes[int(lb)] if classes else f'cls{int(lb)}' for lb in instances.labels]
        scores = instances.scores.tolist() if 'scores' in instances else [None] * len(ids)
        texts = [f'{n} | {i}' + ('' if s is None else f' | {s:.2f}') for n, i, s in zip(names, ids, scores)]
        if 'masks' in instances:
            masks = instances.masks
            masks = masks.cpu().numpy() if hasattr(masks, 'cpu') else np.asarray(masks)
            polygons = [c for m in masks for c in bitmap_to_polygon(m)[0]]
            if polygons:
                self.draw_polygons(polygons, edge_colors='w', alpha=self.alpha)
            self.draw_binary_masks(masks.astype(bool), colors=colors, alphas=self.alpha)
        if 'bboxes' in instances:
            bboxes = instances.bboxes.clone().float()
            self.draw_bboxes(bboxes, edge_colors=colors, alpha=self.alpha, line_widths=self.line_width)
            areas = ((bboxes[:, 3] - bboxes[:, 1]) * (bboxes[:, 2] - bboxes[:, 0])).cpu().numpy()
            font_scales = _get_adaptive_scales(areas)
            for k, pos in enumerate(bboxes[:, :2] + self.line_width):
                self.draw_texts(texts[k], pos, colors='black', font_sizes=int(13 * font_scales[k]),
                                bboxes=[dict(facecolor=[c / 255 for c in colors[k]], alpha=0.8, pad=0.7,
                                             edgecolor='none')])
        return self.get_image()
