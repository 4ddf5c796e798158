"""Shims for the pinned OpenMMLab stack on current torch / numpy.

Applied once when ``mmseqformer`` is imported, so every entry point (tools, configs using
``custom_imports``, the API) gets them without the user setting environment variables.
"""
import os.path as osp
import types
from collections import defaultdict

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.runner.checkpoint import CheckpointLoader


def load_from_local(filename: str, map_location=None):
    """mmengine's local checkpoint loader with ``weights_only=False``.

    torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which cannot unpickle the
    ``message_hub``/numpy objects mmengine stores in training checkpoints, so ``--resume`` fails.
    The function name matters: mmengine logs ``name[10:]`` as the backend.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


class _NumpyWithAliases(types.ModuleType):
    """numpy as seen by code written for numpy < 1.24 (``np.float`` and friends)."""

    float = float
    int = int
    bool = bool
    object = object

    def __getattr__(self, name: str):
        return getattr(np, name)


def _patch_ytviseval() -> None:
    # mmdet 3.3.0's vendored YouTube-VIS evaluator calls ``astype(np.float)``, an alias removed in
    # numpy 1.24; giving that one module a numpy that still has the alias fixes real evaluation
    # without touching numpy for anyone else.
    from mmdet.evaluation.functional import ytviseval
    if not isinstance(ytviseval.np, _NumpyWithAliases):
        ytviseval.np = _NumpyWithAliases('numpy')


def _patch_ytvis_metric_reuse() -> None:
    # mmdet 3.3.0's YouTubeVISMetric.evaluate() leaves its per-run video/image record as an emptied
    # plain dict, so the next evaluation in the same process (periodic validation during training)
    # fails with KeyError 'images'. Restore the defaultdict it starts with after every evaluation.
    from mmdet.evaluation.metrics import YouTubeVISMetric
    if getattr(YouTubeVISMetric.evaluate, '_mmseqformer_reusable', False):
        return
    evaluate = YouTubeVISMetric.evaluate

    def reusable_evaluate(self, size: int):
        try:
            return evaluate(self, size)
        finally:
            self._vis_meta_info = defaultdict(list)

    reusable_evaluate._mmseqformer_reusable = True
    YouTubeVISMetric.evaluate = reusable_evaluate


def _patch_test_metrics_dump() -> None:
    # mmengine 0.10.7's LoggerHook.after_test_epoch writes <log_dir>/<timestamp>.json on every rank, and in a
    # distributed test all ranks share log_dir: concurrent writes of texts of different lengths can leave a
    # corrupt file (seen: a 2-process dist_test.sh json ending in '}7}'). Only the main process writes it; the
    # other ranks' loggers print nothing at INFO anyway.
    from mmengine.hooks import LoggerHook
    if getattr(LoggerHook.after_test_epoch, '_mmseqformer_main_only', False):
        return
    after_test_epoch = LoggerHook.after_test_epoch

    def main_only(self, runner, metrics=None) -> None:
        if is_main_process():
            after_test_epoch(self, runner, metrics)

    main_only._mmseqformer_main_only = True
    LoggerHook.after_test_epoch = main_only


def apply_compat_patches() -> None:
    """Install the shims (idempotent)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    _patch_ytviseval()
    _patch_ytvis_metric_reuse()
    _patch_test_metrics_dump()
