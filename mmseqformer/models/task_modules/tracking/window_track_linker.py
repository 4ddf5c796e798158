"""Tracks over overlapping windows of a video: window placement, query linking and the video-level selection.

Clip models see a long video through windows of a few frames; each window's instance queries are linked to the
previous window's by mask IoU on the frames both hold (optionally helped by query-embedding similarity). The
linker is configured by the model's ``test_cfg`` only (:meth:`WindowTrackLinker.from_test_cfg`).
"""
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import TASK_UTILS
from torch import Tensor

from .track_matching import iou_from_sums, match_links, same_class_nms, track_iou

# test_cfg key -> WindowTrackLinker argument
LINKER_KEYS = dict(window_size='window_size', window_stride='window_stride', link_iou_thr='iou_thr',
                   link_embed_weight='embed_weight', link_score_thr='score_thr', link_class_aware='class_aware',
                   track_nms_thr='nms_thr', track_nms_pool='nms_pool')


def _check_window(size: int, stride: int) -> None:
    if size < 1 or not 0 < stride <= size:
        raise ValueError(f'need 1 <= window_stride <= window_size, got {stride} and {size}')


def window_stride(size: int, stride: Optional[int]) -> int:
    """``stride``, or half of ``size`` where it is None or 0, checked against ``size``."""
    stride = stride or max(1, size // 2)
    _check_window(size, stride)
    return stride


def window_starts(num_frames: int, size: int, stride: int) -> List[int]:
    """First frames of windows of ``size`` frames every ``stride`` frames; the last one ends at the video's end."""
    _check_window(size, stride)
    starts = list(range(0, max(1, num_frames - size + 1), stride))
    if starts[-1] + size < num_frames:
        starts.append(num_frames - size)
    return starts


def next_window_start(start: int, size: int, stride: int, num_read: int, ended: bool) -> Optional[int]:
    """The start of the window after the one at ``start`` (as :func:`window_starts` places them), when decidable.

    Args:
        num_read: frames read so far. ended: whether the video has no more frames (then ``num_read`` is its length).

    Returns:
        the next start; -1 when no window follows; None when more frames must be read to decide.
    """
    if ended:
        if start + size >= num_read:
            return -1
        return start + stride if start + stride + size <= num_read else num_read - size
    return start + stride if num_read >= start + stride + size else None


def check_window_test_cfg(cfg: Optional[dict]) -> None:
    """Raise ValueError naming the key if a ``test_cfg`` that sets ``window_size`` has an unusable window option.

    Checked when the model is built, so that a bad ``--cfg-options`` value fails before any video is decoded.
    """
    cfg = cfg or {}
    if cfg.get('window_size') is None:
        return

    def check(key: str, ok, what: str, default=None) -> None:
        value = cfg.get(key, default)
        if isinstance(value, bool) or not ok(value):
            raise ValueError(f'test_cfg.{key} must be {what}, got {value!r}')

    def fraction(v) -> bool:
        return isinstance(v, (int, float)) and 0 <= v <= 1

    check('window_size', lambda v: isinstance(v, int) and v >= 1, 'an integer >= 1')
    size = cfg['window_size']
    check('window_stride', lambda v: v is None or isinstance(v, int) and 0 <= v <= size,
          f'None or an integer in [0, window_size={size}] (0: half the size)')
    check('link_iou_thr', fraction, 'a number in [0, 1]', 0.5)
    check('link_score_thr', fraction, 'a number in [0, 1]', 0.05)
    check('link_embed_weight', lambda v: isinstance(v, (int, float)) and v >= 0, 'a number >= 0', 0.0)
    check('track_nms_thr', lambda v: v is None or fraction(v), 'None or a number in [0, 1]')
    check('track_nms_pool', lambda v: isinstance(v, int) and v >= 1, 'an integer >= 1', 4)
    if not isinstance(cfg.get('link_class_aware', False), bool):
        raise ValueError(f"test_cfg.link_class_aware must be True or False, got {cfg['link_class_aware']!r}")


@TASK_UTILS.register_module()
class WindowTrackLinker:
    """Tracks over consecutive overlapping windows.

    A window's query continues a track of the previous window whose masks on the shared frames overlap it with
    track IoU >= ``iou_thr`` (class-agnostic unless ``class_aware``: then only queries of the same best class
    link); among those pairs, a one-to-one assignment (Hungarian) maximises the summed IoU plus ``embed_weight``
    times the cosine similarity of the query embeddings. Other queries start new tracks. A track keeps the mean
    of its queries' class scores, and for each frame the (window, query) that first covered it.

    The embedding term matters because several queries often segment the same object: on a short overlap their
    masks are nearly equal, and IoU alone lets a low-scoring duplicate take over a confident query's track. The
    decoder output of one query changes little between overlapping windows, while duplicates are other queries.

    Args:
        window_size: frames per window. window_stride: frames between window starts (None/0: half the size).
        iou_thr: smallest track IoU on the overlap that links two queries.
        embed_weight: weight of the embedding similarity among the links that pass ``iou_thr`` (0: IoU only).
        score_thr: queries whose best class score is below it are not tracked.
        class_aware: link only queries whose best classes agree.
        nms_thr: drop a (track, class) pair whose track overlaps a higher-scoring pair of its class with track IoU
            above it (None: off), chosen among the top ``nms_pool`` x k pairs.
    """

    def __init__(self, window_size: int, window_stride: Optional[int] = None, iou_thr: float = 0.5,
                 embed_weight: float = 0.0, score_thr: float = 0.05, class_aware: bool = False,
                 nms_thr: Optional[float] = None, nms_pool: int = 4) -> None:
        self.window_size = window_size
        self.window_stride = _stride(window_size, window_stride)  # the argument shadows window_stride()
        self.iou_thr, self.embed_weight, self.score_thr = iou_thr, embed_weight, score_thr
        self.class_aware, self.nms_thr, self.nms_pool = class_aware, nms_thr, nms_pool
        self.score_sums: List[Tensor] = []
        self.counts: List[int] = []
        self.sources: List[Dict[int, Tuple[int, int]]] = []  # per track: frame -> (window, query)
        self.prev = None  # (start, masks (k, L, h, w), track ids, embeddings (k, C) or None, labels (k,))

    @classmethod
    def from_test_cfg(cls, test_cfg: dict) -> 'WindowTrackLinker':
        """A fresh linker (one per video) from a model's ``test_cfg``: ``window_*``, ``link_*``, ``track_nms_*``."""
        kwargs = {arg: test_cfg[key] for key, arg in LINKER_KEYS.items() if key in test_cfg}
        return TASK_UTILS.build(dict(type=test_cfg.get('linker', 'WindowTrackLinker'), **kwargs))

    def candidates(self, scores: Tensor) -> Tensor:
        """(m,) indices of the queries to track among (Q, K) class scores."""
        return torch.nonzero(scores.max(1).values >= self.score_thr).squeeze(1)

    def add(self, window: int, start: int, scores: Tensor, masks: Tensor, query_inds: Tensor,
            embeds: Optional[Tensor] = None) -> List[int]:
        """Link one window's queries; returns their track indices (k,).

        Args:
            window: index of the window. start: its first frame (windows come in order).
            scores: (k, K) class scores. masks: (k, L, h, w) bool masks on its L frames (any fixed size).
            query_inds: (k,) the queries' indices in the window's decoder output.
            embeds: (k, C) the queries' decoder outputs; needed when ``embed_weight`` is not 0.
        """
        ids = [-1] * len(scores)
        labels = scores.argmax(1) if len(scores) else scores.new_zeros((0,), dtype=torch.long)
        if self.prev is not None and len(scores) and len(self.prev[2]):
            prev_start, prev_masks, prev_ids, prev_embeds, prev_labels = self.prev
            overlap = prev_start + prev_masks.shape[1] - start
            if overlap > 0:
                iou = track_iou(masks[:, :overlap], prev_masks[:, start - prev_start:])
                if self.class_aware:
                    iou = torch.where(labels[:, None] == prev_labels[None], iou, torch.zeros_like(iou))
                bonus = None
                if self.embed_weight:
                    sim = F.normalize(embeds.float(), dim=1) @ F.normalize(prev_embeds.float(), dim=1).T
                    bonus = self.embed_weight * sim
                for r, c in match_links(iou, self.iou_thr, bonus):
                    ids[r] = prev_ids[c]
        for i, query in enumerate(query_inds.tolist()):
            if ids[i] < 0:
                ids[i] = len(self.counts)
                self.score_sums.append(torch.zeros_like(scores[i]))
                self.counts.append(0)
                self.sources.append({})
            track = ids[i]
            self.score_sums[track] = self.score_sums[track] + scores[i]
            self.counts[track] += 1
            for t in range(masks.shape[1]):
                self.sources[track].setdefault(start + t, (window, query))
        self.prev = (start, masks, ids, embeds, labels)
        return ids

    def scores(self) -> Tensor:
        """(num_tracks, K) mean class scores."""
        return torch.stack([s / n for s, n in zip(self.score_sums, self.counts)])

    def select(self, k: int, track_masks: Callable[[Tensor, int, int], Tensor], num_frames: int,
               chunk: int = 8) -> Tuple[Tensor, Tensor, Tensor]:
        """The video's top-k (track, class) pairs by mean score (> 0), after the optional same-class track NMS.

        Args:
            k: pairs kept. track_masks: ``(tracks (n,), start, stop) -> (n, stop - start, h, w) bool`` masks of
                tracks at any fixed size (for the NMS). num_frames: the video's length.

        Returns:
            scores (k',), labels (k',), track indices (k',) by decreasing score.
        """
        if not self.counts:
            empty = torch.zeros((0,), dtype=torch.long)
            return torch.zeros((0,)), empty, empty
        track_scores = self.scores()
        # with suppression, candidates beyond the top k can take the place of suppressed ones
        pool = k if self.nms_thr is None else k * self.nms_pool
        scores, flat = track_scores.flatten().topk(min(pool, track_scores.numel()))
        # a pair without a score is no detection (a VisTR slot scores only the class it voted for)
        scores, flat = scores[scores > 0], flat[scores > 0]
        labels, tracks = flat % track_scores.shape[1], flat // track_scores.shape[1]
        if self.nms_thr is not None:
            uniq, col = tracks.unique(return_inverse=True)  # each distinct track's masks once
            inter = scores.new_zeros((len(uniq), len(uniq)))
            areas = scores.new_zeros((len(uniq),))
            for start in range(0, num_frames, chunk):  # summed over frames: never all frames' masks at once
                m = track_masks(uniq, start, min(num_frames, start + chunk)).flatten(1).float()
                inter += m @ m.T
                areas += m.sum(1)
            keep = same_class_nms(labels, iou_from_sums(inter, areas, areas)[col][:, col], self.nms_thr)
            scores, labels, tracks = scores[keep], labels[keep], tracks[keep]
        return scores[:k], labels[:k], tracks[:k]


def _stride(size: int, stride: Optional[int]) -> int:
    return window_stride(size, stride)
