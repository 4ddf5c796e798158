"""OVIS (Occluded Video Instance Segmentation) through mmdet's video dataset classes."""
from __future__ import annotations

from typing import Any, Optional

from mmdet.datasets import BaseVideoDataset, YouTubeVISDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

# Category names exactly as in the official OVIS json (ids 1..25, "Vehical" sic): mmdet matches classes
# to json categories by name.
OVIS_CLASSES = ('Person', 'Bird', 'Cat', 'Dog', 'Horse', 'Sheep', 'Cow', 'Elephant', 'Bear', 'Zebra',
                'Giraffe', 'Poultry', 'Giant_panda', 'Lizard', 'Parrot', 'Monkey', 'Rabbit', 'Tiger', 'Fish',
                'Turtle', 'Bicycle', 'Motorcycle', 'Airplane', 'Boat', 'Vehical')


@DATASETS.register_module()
class OVISDataset(YouTubeVISDataset):
    """OVIS in the CocoVID layout written by ``tools/dataset_converters/youtubevis2coco.py --version ovis``
    (``ovis_{train,valid,test}.json``); the OVIS json has the YouTube-VIS layout.

    Each item is a video (see mmdet's ``BaseVideoDataset``). The 25 classes come from :attr:`METAINFO`, so
    no ``dataset_version`` is needed; one inherited from a YouTube-VIS config is accepted and ignored.
    Like YouTube-VIS, the valid/test splits have no public ground truth: evaluate with
    ``YouTubeVISMetric(format_only=True)`` and submit the zip to the OVIS server.
    """

    METAINFO = dict(classes=OVIS_CLASSES)

    def __init__(self, *args: Any, dataset_version: Optional[str] = None, **kwargs: Any) -> None:
        if dataset_version is not None:
            print_log(f'OVISDataset ignores dataset_version={dataset_version!r}: classes come from METAINFO',
                      'current')
        # YouTubeVISDataset.__init__ would overwrite the class-level METAINFO with YouTube-VIS classes
        BaseVideoDataset.__init__(self, *args, **kwargs)
