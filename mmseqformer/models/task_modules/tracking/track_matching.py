"""Track-level overlap, one-to-one link assignment and duplicate suppression shared by the video linkers."""
from typing import List, Optional, Tuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor


def track_iou(a: Tensor, b: Tensor) -> Tensor:
    """YouTube-VIS track IoU (summed intersections over summed unions) of every pair.

    Args:
        a: (m, t, h, w) bool. b: (n, t, h, w) bool, the same frames.

    Returns:
        (m, n) float.
    """
    a = a.flatten(1).float()
    b = b.flatten(1).float()
    return iou_from_sums(a @ b.T, a.sum(1), b.sum(1))


def iou_from_sums(inter: Tensor, area_a: Tensor, area_b: Tensor) -> Tensor:
    """(m, n) IoU from summed intersections (m, n) and summed areas (m,), (n,); 0 where both are empty."""
    union = area_a[:, None] + area_b[None] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


def match_links(iou: Tensor, iou_thr: float, bonus: Optional[Tensor] = None) -> List[Tuple[int, int]]:
    """One-to-one links between new (rows) and previous (columns) instances.

    Only pairs with ``iou >= iou_thr`` may link; among them the Hungarian assignment maximises IoU + ``bonus``.

    Args:
        iou: (m, n) track IoU on the shared frames. bonus: (m, n) added to the IoU of the allowed pairs.

    Returns:
        (row, column) pairs.
    """
    gain = iou if bonus is None else iou + bonus
    # pairs below the IoU threshold cannot link: keep them out of the assignment
    gain = torch.where(iou >= iou_thr, gain, torch.full_like(gain, -1e6)).cpu().numpy()
    rows, cols = linear_sum_assignment(-gain)
    return [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if iou[r, c] >= iou_thr]


def same_class_nms(labels: Tensor, iou: Tensor, iou_thr: float) -> Tensor:
    """Greedy suppression of near-duplicate tracks of one class.

    Several queries often follow one object, so their tracks are near-duplicates, and every duplicate after the
    first is a false positive of its class that can outrank true positives of other videos.

    Args:
        labels: (n,) class of each (track, class) pair, pairs in descending score.
        iou: (n, n) track IoU of the pairs' tracks. iou_thr: a pair is dropped when its IoU with a kept pair of
            its class is above it.

    Returns:
        (n,) bool, True for the pairs kept.
    """
    clash = ((labels[:, None] == labels[None]) & (iou > iou_thr)).tolist()
    keep = torch.zeros(len(labels), dtype=torch.bool)
    kept: List[int] = []
    for i in range(len(labels)):
        if not any(clash[i][j] for j in kept):
            kept.append(i)
            keep[i] = True
    return keep
