"""Offline clip models: encode frames in chunks, decode the whole clip or linked windows, masks per frame range."""
from abc import abstractmethod
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import torch
from mmdet.structures import TrackSampleList
from torch import Tensor

from ..task_modules.tracking import WindowTrackLinker, check_window_test_cfg, next_window_start
from .base_vis_model import BaseVISModel, FrameResult, frame_instances
from .clip_decoding import ClipDecoding
from .deploy_graph import DeployGraph
from .frame_encodings import FrameEncoder
from .window_mask_store import WindowMaskStore

DEFAULT_CHUNK = 8


class OfflineClipVISModel(BaseVISModel):
    """A model that sees a clip at once: frames are encoded independently, the decoder sees the whole clip.

    Subclasses implement :meth:`encode_frames` and :meth:`decode_clip` and name ``per_frame_keys``. Test rules
    (``test_cfg``): ``max_per_video`` (top-k (query, class) pairs, 10), ``chunk_size`` (frames encoded together
    by ``predict``; default all), ``drop_empty``, and for long videos ``window_size`` with the linker options of
    :class:`WindowTrackLinker` (``window_stride``, ``link_iou_thr``, ``link_embed_weight``, ``link_score_thr``,
    ``link_class_aware``, ``track_nms_thr``, ``track_nms_pool``).

    Memory: without windows the encoder output of every frame is held until the clip is decoded (it grows with
    the video). With windows only the encoder outputs of the current window and the next stride and one decoded
    window are held; the masks a window gives its tracks are final once it is linked and are kept run-length
    encoded (:class:`WindowMaskStore`) until the video's end, when the top-k tracks are chosen.
    """

    per_frame_keys: Tuple[str, ...] = ()
    # with windows, decode a video that fits in one window as a whole clip (top-k pairs, no linking)
    decode_short_video_whole = False

    def check_test_cfg(self) -> None:
        """Raise ValueError naming the key of an unusable test rule (call once ``self.test_cfg`` is set), so that a
        bad ``--cfg-options`` value fails before any video is read."""
        cfg = self.video_test_cfg
        for key, ok, what in (('max_per_video', lambda v: isinstance(v, int) and v >= 1, 'an integer >= 1'),
                              ('chunk_size', lambda v: v is None or isinstance(v, int) and v >= 1,
                               'None or an integer >= 1'),
                              ('mask_thr', lambda v: isinstance(v, (int, float)) and 0 <= v <= 1, 'a number in [0, 1]'),
                              ('drop_empty', lambda v: isinstance(v, bool), 'True or False')):
            value = cfg.get(key)
            if key in cfg and (not ok(value) or isinstance(value, bool) and key != 'drop_empty'):
                raise ValueError(f'test_cfg.{key} must be {what}, got {value!r}')
        check_window_test_cfg(cfg)

    @abstractmethod
    def encode_frames(self, frames: Tensor, masks: Optional[Tensor] = None) -> dict:
        """Encoder outputs of F independent frames (F, 3, H, W) (``masks`` (F, H, W) True on padding); the
        ``per_frame_keys`` entries are (F, ...), the others shared by all frames."""

    @abstractmethod
    def decode_clip(self, enc: dict, meta: dict) -> ClipDecoding:
        """Decode one clip from the :meth:`encode_frames` entries of its frames (``meta``: the first frame's)."""

    def deploy_graphs(self) -> List[DeployGraph]:
        """The network as exportable graphs (:mod:`mmseqformer.deploy`), in the order a video runs them."""
        raise NotImplementedError(f'{type(self).__name__} has no exportable graphs')

    @classmethod
    def deployed_clip(cls, decoded: Dict[str, Tensor], enc: dict, meta: dict, graphs: Any,
                      test_cfg: dict) -> ClipDecoding:
        """The :class:`ClipDecoding` of an exported model: ``decoded`` holds the decode graph's outputs, ``enc`` the
        encode graph's of the clip's frames, ``graphs`` calls the later graphs by name (``graphs.masks(...)``)."""
        raise NotImplementedError(f'{cls.__name__} has no exportable graphs')

    @staticmethod
    def padding_masks(inputs: Tensor, data_samples: Optional[TrackSampleList]) -> Optional[Tensor]:
        """(N*T, H, W) True on padding, or None when no frame is padded.

        Args:
            inputs: (N, T, 3, H, W). data_samples: per-frame ``img_shape`` is the unpadded size.
        """
        if data_samples is None:
            return None
        n, t, _, h, w = inputs.shape
        shapes = [tuple(s[i].metainfo['img_shape'][:2]) for s in data_samples for i in range(t)]
        if all(shape == (h, w) for shape in shapes):
            return None
        masks = inputs.new_ones((n * t, h, w), dtype=torch.bool)
        for k, (img_h, img_w) in enumerate(shapes):
            masks[k, :img_h, :img_w] = False
        return masks

    def predict_batch_video(self, inputs: Tensor, data_samples: TrackSampleList, index: int,
                            rescale: bool) -> Iterator[FrameResult]:
        masks = self.padding_masks(inputs, data_samples)
        if masks is None:
            return super().predict_batch_video(inputs, data_samples, index, rescale)
        # padded frames are encoded at the padded size with their padding masks
        t = inputs.shape[1]
        frames = slice(index * t, (index + 1) * t)
        enc = self.encode_frames(inputs[index], masks[frames])
        encoder = FrameEncoder.from_encoding(self, enc)
        chunk = self.video_test_cfg.get('chunk_size') or t
        return self.video_results(encoder, data_samples[index][0].metainfo, chunk, rescale)

    def predict_video(self, frames: Iterable[Tensor], meta: dict, chunk_size: Optional[int] = None,
                      rescale: bool = True) -> Iterator[FrameResult]:
        chunk = chunk_size or self.video_test_cfg.get('chunk_size') or DEFAULT_CHUNK
        size = self.video_test_cfg.get('window_size')
        capacity = (meta.get('video_length') or chunk) if size is None else 2 * size + chunk
        return self.video_results(FrameEncoder(self, iter(frames), chunk, capacity), meta, chunk, rescale)

    @torch.no_grad()
    def video_results(self, encoder: FrameEncoder, meta: dict, chunk: int, rescale: bool) -> Iterator[FrameResult]:
        """Per-frame results of the video ``encoder`` reads, masks made ``chunk`` frames at a time."""
        size = self.video_test_cfg.get('window_size')
        if size and self.decode_short_video_whole:
            encoder.read_until(size + 1)
            if encoder.ended and encoder.num_read <= size:
                size = None  # one window holds the whole video
        if size:
            yield from self._windowed_results(encoder, meta, chunk, rescale)
            return
        encoder.read_until(None)
        num = encoder.num_read
        dec = self.decode_clip(encoder.encoded.view(0, num), meta)
        scores, labels, queries = self.select_pairs(dec.scores)
        ids = torch.arange(len(scores), device=scores.device)
        for start in range(0, num, chunk):
            masks = dec.masks(queries, start, min(num, start + chunk), rescale)
            yield from enumerate(frame_instances(masks, scores, labels, ids), start)

    def select_pairs(self, scores: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Top ``max_per_video`` (query, class) pairs of (Q, K) scores: scores (k,), labels (k,), queries (k,)."""
        k = min(self.video_test_cfg.get('max_per_video', 10), scores.numel())
        top, flat = scores.flatten().topk(k)
        return top, flat % scores.shape[1], flat // scores.shape[1]

    def _windowed_results(self, encoder: FrameEncoder, meta: dict, chunk: int,
                          rescale: bool) -> Iterator[FrameResult]:
        linker = WindowTrackLinker.from_test_cfg(self.video_test_cfg)
        size, stride = linker.window_size, linker.window_stride
        store = WindowMaskStore(linker.sources, meta['ori_shape'][:2] if rescale else meta['img_shape'][:2],
                                meta['img_shape'][:2], keep_link=linker.nms_thr is not None and rescale,
                                device=self.data_preprocessor.device)
        window = start = covered = 0
        while start >= 0:
            encoder.read_until(start + size)
            stop = min(encoder.num_read, start + size)
            dec = self.decode_clip(encoder.encoded.view(start, stop), meta)
            queries = linker.candidates(dec.scores)
            # linked at the network input size: at the mask logits' resolution small objects are a few cells
            masks = dec.masks(queries, 0, stop - start, rescale=False)
            nonempty = masks.flatten(1).any(1)
            queries, masks = queries[nonempty], masks[nonempty]
            tracks = linker.add(window, start, dec.scores[queries], masks, queries, dec.embeds[queries])
            # a frame's mask is final once a track has it: new tracks take all the window's frames, continued
            # ones the frames beyond the previous window
            new = torch.tensor([linker.sources[t].get(start) == (window, q) for t, q in zip(tracks, queries.tolist())],
                               dtype=torch.bool, device=queries.device)
            for keep, first in ((new, start), (~new, covered)):
                link_masks = masks[keep][:, first - start:]
                out_masks = dec.masks(queries[keep], first - start, stop - start, rescale) if rescale else link_masks
                store.add(window, first, queries[keep], out_masks, link_masks)
            del dec, masks, link_masks, out_masks
            window, covered = window + 1, stop
            encoder.read_until(start + stride + size)
            start = next_window_start(start, size, stride, encoder.num_read, encoder.ended)
            encoder.encoded.release_before(start if start >= 0 else encoder.num_read)
        num = encoder.num_read
        k = self.video_test_cfg.get('max_per_video', 10)
        link_size = store.link_runs is not None
        scores, labels, tracks = linker.select(k, lambda t, s, e: store.masks(t, s, e, link_size), num)
        ids = torch.arange(len(scores), device=scores.device)
        for start in range(0, num, chunk):
            masks = store.masks(tracks, start, min(num, start + chunk))
            yield from enumerate(frame_instances(masks, scores, labels, ids), start)
