"""Evaluation helpers: official-format YouTube-VIS scoring and prediction dumps.

Local AP during validation/testing is mmdet's ``YouTubeVISMetric`` (unchanged; the numpy shim in
``mmseqformer.utils.compat`` makes it run on numpy 2).
"""
from .dump_vis_results import DumpVISResults, official_instances
from .ytvis_official_eval import (METRIC_INDICES, YTVISAnnotationError, YTVISResultsError, check_ytvis_results,
                                  evaluate_ytvis_results, load_ytvis_gt)

__all__ = [
    'DumpVISResults', 'official_instances', 'METRIC_INDICES', 'YTVISAnnotationError',
    'YTVISResultsError',
    'check_ytvis_results', 'evaluate_ytvis_results', 'load_ytvis_gt'
]
