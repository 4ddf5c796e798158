"""Small clip-level helpers for the broadcast training pipeline."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from mmcv.transforms import BaseTransform, RandomChoice
from mmdet.registry import TRANSFORMS

from ...utils import register_deprecated_alias


@TRANSFORMS.register_module()
class ClipRandomChoice(RandomChoice):
    """mmcv's ``RandomChoice`` that can share its choice across the frames of a clip.

    Same arguments and behaviour as ``RandomChoice`` (the DETR "RandomSelect"). It exists because mmdet's
    ``AutoAugment(RandomChoice)`` re-decorates ``random_pipeline_index`` without a list of its own, so the
    decorator appends the name a second time to ``RandomChoice._methods_with_randomness``. Inside
    ``TransformBroadcaster(share_random_params=True)`` every call is then counted twice and mmcv raises
    "should be invoked at most once". A class-level list of our own lists the method once.
    """

    _methods_with_randomness = ['random_pipeline_index']


@TRANSFORMS.register_module()
class SkipEmptyClip(BaseTransform):
    """Reject a clip in which no frame holds an instance, so that the dataset draws another one.

    The official training set resamples such clips. Returning ``None`` makes mmengine's
    ``BaseDataset.__getitem__`` (training mode) retry with a random index, up to its ``max_refetch``.
    Instances absent from some frames are fine; ignored (crowd) instances do not count.

    Input: dict of lists (one entry per frame) with ``gt_bboxes_labels`` (``(N_t,)`` per frame) and optionally
    ``gt_ignore_flags`` (``(N_t,)`` bool).

    Args:
        min_instances: smallest number of distinct instance ids (over the whole clip) a clip must hold;
            without ``gt_instances_ids`` the per-frame instance counts are summed instead.
    """

    def __init__(self, min_instances: int = 1) -> None:
        self.min_instances = min_instances

    @staticmethod
    def count_instances(results: Dict[str, List]) -> int:
        """Number of distinct non-ignored instance ids in the clip (or the summed per-frame count)."""
        labels: List[np.ndarray] = results['gt_bboxes_labels']
        ignores = results.get('gt_ignore_flags') or [np.zeros(len(x), bool) for x in labels]
        keeps = [~np.asarray(flags, bool) for flags in ignores]
        if 'gt_instances_ids' in results:
            ids = [np.asarray(i)[k] for i, k in zip(results['gt_instances_ids'], keeps)]
            return len(np.unique(np.concatenate(ids))) if ids else 0
        return int(sum(k.sum() for k in keeps))

    def transform(self, results: Dict[str, List]) -> Optional[Dict[str, List]]:
        if self.count_instances(results) < self.min_instances:
            return None
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(min_instances={self.min_instances})'


SeqFormerRandomChoice = register_deprecated_alias(TRANSFORMS, ClipRandomChoice, 'SeqFormerRandomChoice')
SeqFormerSkipEmptyClip = register_deprecated_alias(TRANSFORMS, SkipEmptyClip, 'SeqFormerSkipEmptyClip')
