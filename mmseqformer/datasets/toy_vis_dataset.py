"""mmdet dataset class for the synthetic toy_vis videos (see mmseqformer/converters/toy_vis_generator.py)."""
from __future__ import annotations

from typing import Any, Optional

from mmdet.datasets import BaseVideoDataset, YouTubeVISDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

# one class per shape the generator draws, in category id order (ids 1..6)
TOY_VIS_CLASSES = ('circle', 'square', 'triangle', 'star', 'hexagon', 'cross')


@DATASETS.register_module()
class ToyVISDataset(YouTubeVISDataset):
    """toy_vis in the CocoVID layout (``annotations/toy_vis_{train,valid}.json``).

    Each item is a video: ``dict(video_id, video_length, images=[per-frame data info])`` where a frame's
    ``instances`` hold ``bbox`` (x1, y1, x2, y2), ``bbox_label``, ``mask`` (RLE) and ``instance_id``.

    Unlike :class:`YouTubeVISDataset` the classes are fixed by :attr:`METAINFO`, so no ``dataset_version``
    is needed; one inherited from a YouTube-VIS config is accepted and ignored.
    """

    METAINFO = dict(classes=TOY_VIS_CLASSES,
                    palette=[(220, 20, 60), (0, 114, 230), (255, 170, 0), (60, 180, 75), (145, 30, 180),
                             (0, 190, 190)])

    def __init__(self, *args: Any, dataset_version: Optional[str] = None, **kwargs: Any) -> None:
        if dataset_version is not None:
            print_log(f'ToyVISDataset ignores dataset_version={dataset_version!r}: classes come from METAINFO',
                      'current')
        # YouTubeVISDataset.__init__ would set the class-level METAINFO to the YouTube-VIS 2019/2021 classes
        BaseVideoDataset.__init__(self, *args, **kwargs)
