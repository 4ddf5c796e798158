"""Windowed SeqFormer inference: decode overlapping windows of an encoded video and link their queries.

SeqFormer's per-frame box queries start every frame from the same reference point, so a query follows an
object only as far as its decoder layers can move that point; an object crossing a long video is then split
over several queries. Decoding windows of a few frames (the clip lengths the model was trained on) and linking
each window's queries to the previous window's by mask IoU on their shared frames lets tracks follow such
motion. The encoder runs once per frame: only the decoder and the masks run per window.
"""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor


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


def track_iou(a: Tensor, b: Tensor) -> Tensor:
    """YouTube-VIS track IoU (summed intersections over summed unions) of every pair.

    Args:
        a: (m, t, h, w) bool. b: (n, t, h, w) bool, the same frames.

    Returns:
        (m, n) float.
    """
    a = a.flatten(1).float()
    b = b.flatten(1).float()
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


class WindowTrackLinker:
    """Tracks over consecutive overlapping windows.

    A window's query continues the previous window's track whose masks on the shared frames match it best
    (Hungarian on track IoU, class-agnostic, IoU >= ``iou_thr``); other queries start new tracks. A track keeps
    the mean of its queries' class scores, and for each frame the (window, query) that first covered it.

    Args:
        iou_thr: smallest track IoU on the overlap that links two queries.
    """

    def __init__(self, iou_thr: float = 0.5) -> None:
        self.iou_thr = iou_thr
        self.score_sums: List[Tensor] = []
        self.counts: List[int] = []
        self.sources: List[Dict[int, Tuple[int, int]]] = []  # per track: frame -> (window, query)
        self.prev = None  # (start, masks (k, L, h, w), track ids)

    def add(self, window: int, start: int, scores: Tensor, masks: Tensor, query_inds: Tensor) -> None:
        """Link one window's queries.

        Args:
            window: index of the window. start: its first frame (windows come in order).
            scores: (k, K) class scores. masks: (k, L, h, w) bool masks on its L frames (any fixed size).
            query_inds: (k,) the queries' indices in the window's decoder output.
        """
        ids = [-1] * len(scores)
        if self.prev is not None and len(scores) and len(self.prev[2]):
            prev_start, prev_masks, prev_ids = self.prev
            overlap = prev_start + prev_masks.shape[1] - start
            if overlap > 0:
                iou = track_iou(masks[:, :overlap], prev_masks[:, start - prev_start:]).cpu().numpy()
                for r, c in zip(*linear_sum_assignment(-iou)):
                    if iou[r, c] >= self.iou_thr:
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
        self.prev = (start, masks, ids)

    def scores(self) -> Tensor:
        """(num_tracks, K) mean class scores."""
        return torch.stack([s / n for s, n in zip(self.score_sums, self.counts)])


class WindowedVideo:
    """Top-k (track, class) pairs of one encoded video decoded in windows; masks on demand for any frames.

    Options come from the head's ``test_cfg``: ``window_size``, ``window_stride`` (default half the size),
    ``link_iou_thr`` (0.5), ``link_score_thr`` (queries whose best class score is below it are not tracked, 0.05),
    ``max_per_video`` and ``mask_thr`` as in whole-video inference.

    Args:
        model: a SeqFormer. enc: its ``encode`` output for the T frames of one unpadded video.
        num_frames: T. meta: the first frame's metainfo (``img_shape``, ``ori_shape``).
        topk: pairs kept (None: ``max_per_video``).
    """

    @torch.no_grad()
    def __init__(self, model, enc: dict, num_frames: int, meta: dict, topk: Optional[int] = None) -> None:
        self.head = model.track_head
        cfg = self.head.test_cfg or {}
        size = cfg['window_size']
        self.meta, self.mask_feats = meta, enc['mask_feats']
        linker = WindowTrackLinker(cfg.get('link_iou_thr', 0.5))
        self.windows = []  # per window: (start, instance queries (Q, C), reference (L, Q, 2|4))
        for w, start in enumerate(window_starts(num_frames, size, window_stride(size, cfg.get('window_stride')))):
            stop = min(num_frames, start + size)
            dec = model.decode(model.select_frames(enc, start, stop), 1, stop - start)
            inst, reference = dec['inst_queries'][-1, 0], dec['references'][-1][0]
            self.windows.append((start, inst, reference))
            scores = self.head.cls_branches[-1](inst).sigmoid()
            query_inds = torch.nonzero(scores.max(1).values >= cfg.get('link_score_thr', 0.05)).squeeze(1)
            # linked at the network input size: at the 1/4 resolution of the mask logits small objects are a
            # few cells and their IoU is coarse
            masks = self.head.predict_masks(inst[query_inds], reference[:, query_inds], self.mask_feats[start:stop],
                                            meta, rescale=False)
            nonempty = masks.flatten(1).any(1)
            linker.add(w, start, scores[query_inds][nonempty], masks[nonempty], query_inds[nonempty])
        self.sources = linker.sources
        if linker.counts:
            track_scores = linker.scores()
            k = min(cfg.get('max_per_video', 10) if topk is None else topk, track_scores.numel())
            self.scores, flat = track_scores.flatten().topk(k)
            self.labels, self.tracks = flat % track_scores.shape[1], flat // track_scores.shape[1]
        else:
            self.scores = self.mask_feats.new_zeros((0,))
            self.labels = self.tracks = self.mask_feats.new_zeros((0,), dtype=torch.long)

    def keep(self, keep: Tensor) -> None:
        """Keep only the pairs where ``keep`` (k,) is True."""
        self.scores, self.labels, self.tracks = self.scores[keep], self.labels[keep], self.tracks[keep]

    @torch.no_grad()
    def masks(self, start: int, stop: int, rescale: bool = True) -> Tensor:
        """(k, stop - start, H, W) bool masks of frames [start, stop), each frame from the window that first
        covered it (empty where the track was not tracked); original size with ``rescale``."""
        out_hw = tuple(self.meta['ori_shape'][:2]) if rescale else tuple(self.meta['img_shape'][:2])
        masks = self.mask_feats.new_zeros((len(self.tracks), stop - start, *out_hw), dtype=torch.bool)
        thr = (self.head.test_cfg or {}).get('mask_thr', 0.5)
        for w, (w_start, inst, reference) in enumerate(self.windows):
            rows, frames, queries = [], [], []
            for row, track in enumerate(self.tracks.tolist()):
                for frame, (src, query) in self.sources[track].items():
                    if src == w and start <= frame < stop:
                        rows.append(row)
                        frames.append(frame)
                        queries.append(query)
            if not rows:
                continue
            # one mask pass for the window's distinct queries on its frames, then pick the (query, frame) pairs
            uniq, pick = torch.tensor(queries).unique(return_inverse=True)
            w_stop = w_start + reference.shape[0]
            logits = self.head.video_masks(inst[uniq], reference[:, uniq], self.mask_feats[w_start:w_stop],
                                           tuple(self.meta['img_shape'][:2]))
            logits = logits[pick, torch.tensor(frames) - w_start][:, None]
            logits = self.head.resize_masks(logits, self.meta, rescale)[:, 0]
            binary = logits > 0 if thr == 0.5 else logits.sigmoid() > thr
            masks[torch.tensor(rows), torch.tensor(frames) - start] = binary
        return masks


def predict_in_windows(model, enc: dict, num_frames: int, meta: dict, rescale: bool = True) -> List[InstanceData]:
    """Per-frame results of :class:`WindowedVideo`, as :meth:`SeqFormerHead.predict` returns them.

    Returns:
        list over frames of InstanceData(masks (k, H, W) bool, bboxes, scores (k,), labels (k,),
        instances_id (k,)); pairs whose mask is empty in every frame are dropped with ``drop_empty`` (default).
    """
    video = WindowedVideo(model, enc, num_frames, meta)
    masks = video.masks(0, num_frames, rescale)
    scores, labels = video.scores, video.labels
    if (model.track_head.test_cfg or {}).get('drop_empty', True):
        keep = masks.flatten(1).any(1)
        masks, scores, labels = masks[keep], scores[keep], labels[keep]
    return model.track_head.frame_results(masks, scores, labels)
