"""Windowed SeqFormer inference: decode overlapping windows of an encoded video and link their queries.

SeqFormer's per-frame box queries start every frame from the same reference point, so a query follows an
object only as far as its decoder layers can move that point; an object crossing a long video is then split
over several queries. Decoding windows of a few frames (the clip lengths the model was trained on) and linking
each window's queries to the previous window's by mask IoU on their shared frames lets tracks follow such
motion. The encoder runs once per frame: only the decoder and the masks run per window.
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
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


class WindowTrackLinker:
    """Tracks over consecutive overlapping windows.

    A window's query continues a track of the previous window whose masks on the shared frames overlap it with
    track IoU >= ``iou_thr`` (class-agnostic); among those pairs, a one-to-one assignment (Hungarian) maximises
    the summed IoU plus ``embed_weight`` times the cosine similarity of the query embeddings. Other queries start
    new tracks. A track keeps the mean of its queries' class scores, and for each frame the (window, query) that
    first covered it.

    The embedding term matters because several queries often segment the same object: on a short overlap their
    masks are nearly equal, and IoU alone lets a low-scoring duplicate take over a confident query's track. The
    decoder output of one query changes little between overlapping windows, while duplicates are other queries.

    Args:
        iou_thr: smallest track IoU on the overlap that links two queries.
        embed_weight: weight of the embedding similarity among the links that pass ``iou_thr`` (0: IoU only).
    """

    def __init__(self, iou_thr: float = 0.5, embed_weight: float = 0.0) -> None:
        self.iou_thr = iou_thr
        self.embed_weight = embed_weight
        self.score_sums: List[Tensor] = []
        self.counts: List[int] = []
        self.sources: List[Dict[int, Tuple[int, int]]] = []  # per track: frame -> (window, query)
        self.prev = None  # (start, masks (k, L, h, w), track ids, embeddings (k, C) or None)

    def add(self, window: int, start: int, scores: Tensor, masks: Tensor, query_inds: Tensor,
            embeds: Optional[Tensor] = None) -> None:
        """Link one window's queries.

        Args:
            window: index of the window. start: its first frame (windows come in order).
            scores: (k, K) class scores. masks: (k, L, h, w) bool masks on its L frames (any fixed size).
            query_inds: (k,) the queries' indices in the window's decoder output.
            embeds: (k, C) the queries' decoder outputs; needed when ``embed_weight`` is not 0.
        """
        ids = [-1] * len(scores)
        if self.prev is not None and len(scores) and len(self.prev[2]):
            prev_start, prev_masks, prev_ids, prev_embeds = self.prev
            overlap = prev_start + prev_masks.shape[1] - start
            if overlap > 0:
                iou = track_iou(masks[:, :overlap], prev_masks[:, start - prev_start:])
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
        self.prev = (start, masks, ids, embeds)

    def scores(self) -> Tensor:
        """(num_tracks, K) mean class scores."""
        return torch.stack([s / n for s, n in zip(self.score_sums, self.counts)])


class WindowedVideo:
    """Top-k (track, class) pairs of one encoded video decoded in windows; masks on demand for any frames.

    Options come from the head's ``test_cfg``: ``window_size``, ``window_stride`` (default half the size),
    ``link_iou_thr`` (0.5), ``link_embed_weight`` (see :class:`WindowTrackLinker`, 0), ``link_score_thr``
    (queries whose best class score is below it are not tracked, 0.05),
    ``track_nms_thr`` (drop a pair whose track overlaps a higher-scoring pair of its class with track IoU above
    it, chosen among the top ``track_nms_pool`` (4) x k pairs; None: off, the default), ``max_per_video`` and
    ``mask_thr`` as in whole-video inference.

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
        linker = WindowTrackLinker(cfg.get('link_iou_thr', 0.5), cfg.get('link_embed_weight', 0.0))
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
            linker.add(w, start, scores[query_inds][nonempty], masks[nonempty], query_inds[nonempty],
                       inst[query_inds][nonempty])
        self.sources = linker.sources
        self.scores = self.mask_feats.new_zeros((0,))
        self.labels = self.tracks = self.mask_feats.new_zeros((0,), dtype=torch.long)
        if linker.counts:
            track_scores = linker.scores()
            k = cfg.get('max_per_video', 10) if topk is None else topk
            nms_thr = cfg.get('track_nms_thr')
            # with suppression, candidates beyond the top k can take the place of suppressed ones
            pool = k if nms_thr is None else k * cfg.get('track_nms_pool', 4)
            self.scores, flat = track_scores.flatten().topk(min(pool, track_scores.numel()))
            self.labels, self.tracks = flat % track_scores.shape[1], flat // track_scores.shape[1]
            if nms_thr is not None:
                self.keep(self._same_class_nms(nms_thr, num_frames))
            self.keep(torch.arange(len(self.scores)) < k)

    def _same_class_nms(self, iou_thr: float, num_frames: int, chunk: int = 8) -> Tensor:
        """(n,) bool: :func:`same_class_nms` of the pairs, on the track IoU of their masks at network size."""
        uniq, col = self.tracks.unique(return_inverse=True)  # each distinct track's masks once
        inter = self.mask_feats.new_zeros((len(uniq), len(uniq)))
        areas = self.mask_feats.new_zeros((len(uniq),))
        for start in range(0, num_frames, chunk):  # summed over frames: never all frames' masks at once
            m = self.masks(start, min(num_frames, start + chunk), rescale=False, tracks=uniq).flatten(1).float()
            inter += m @ m.T
            areas += m.sum(1)
        return same_class_nms(self.labels, iou_from_sums(inter, areas, areas)[col][:, col], iou_thr)

    def keep(self, keep: Tensor) -> None:
        """Keep only the pairs where ``keep`` (k,) is True."""
        self.scores, self.labels, self.tracks = self.scores[keep], self.labels[keep], self.tracks[keep]

    @torch.no_grad()
    def masks(self, start: int, stop: int, rescale: bool = True, tracks: Optional[Tensor] = None) -> Tensor:
        """(k, stop - start, H, W) bool masks of frames [start, stop), each frame from the window that first
        covered it (empty where the track was not tracked); original size with ``rescale``. ``tracks`` (k,): other
        tracks than the kept pairs' (default)."""
        tracks = self.tracks if tracks is None else tracks
        out_hw = tuple(self.meta['ori_shape'][:2]) if rescale else tuple(self.meta['img_shape'][:2])
        masks = self.mask_feats.new_zeros((len(tracks), stop - start, *out_hw), dtype=torch.bool)
        thr = (self.head.test_cfg or {}).get('mask_thr', 0.5)
        # per window: the (row, frame, query) triples it supplies; only frames in [start, stop) are looked up
        by_window: Dict[int, Tuple[List[int], List[int], List[int]]] = {}
        for row, track in enumerate(tracks.tolist()):
            sources = self.sources[track]
            for frame in range(start, stop):
                if frame in sources:
                    w, query = sources[frame]
                    rows, frames, queries = by_window.setdefault(w, ([], [], []))
                    rows.append(row)
                    frames.append(frame)
                    queries.append(query)
        for w, (rows, frames, queries) in by_window.items():
            w_start, inst, reference = self.windows[w]
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
