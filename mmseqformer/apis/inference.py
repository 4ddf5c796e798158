"""Video inference API: build a model from a config and run it on a whole video with bounded memory."""
from __future__ import annotations

import copy
import os
import warnings
from typing import Callable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from mmdet.registry import MODELS, TRANSFORMS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from torch import nn

from ..models.heads.seqformer_head import SeqFormerHead
from ..models.vis.encoded_clip import EncodedClip
from ..models.vis.window_inference import WindowedVideo
from ..models.vis.window_inference import window_stride as checked_window_stride  # iter_video_results has window_stride
from ..utils.config_check import suspicious_keys
from .checkpoint import load_model_checkpoint
from .video_source import VideoInputError, VideoLike, VideoSource
from .window_linking import WindowLinker

Progress = Optional[Callable[[str, int, int], None]]


class ConfigError(ValueError):
    """A config that cannot be read, or whose model cannot be built (unknown type, bad argument)."""


def init_model(config: Union[str, os.PathLike, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a SeqFormer from a config and load a checkpoint into it.

    Args:
        config: config file or :class:`Config`.
        checkpoint: a ``.pth`` (mmengine checkpoint or bare state dict); None keeps random weights (the
            backbone's ``init_cfg`` is dropped so nothing is read from disk).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:0'`` ...
        cfg_options: overrides merged into the config.

    Returns:
        the model in eval mode on ``device``, with ``cfg`` and ``dataset_meta`` (``classes``) set.

    Raises:
        FileNotFoundError: the config or checkpoint does not exist.
        ConfigError: the config cannot be loaded, or its model cannot be built.
        CheckpointError: the checkpoint cannot be read or does not fit the model.
    """
    if isinstance(config, (str, os.PathLike)):
        if not os.path.isfile(config):
            raise FileNotFoundError(f'{config}: no such config file')
        try:
            config = Config.fromfile(os.fspath(config))
        except Exception as e:  # syntax errors, missing _base_ files, failing imports
            raise ConfigError(f'{config}: cannot load the config: {_one_line(e)}') from e
    elif not isinstance(config, Config):
        raise TypeError(f'config must be a path or a Config, got {type(config).__name__}')
    cfg = copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    for message in suspicious_keys(cfg.keys()):
        warnings.warn(message, stacklevel=2)
    import mmseqformer  # noqa: F401  registers the components (the config may not import them)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = cfg.model
    if model_cfg.get('backbone', {}).get('init_cfg') is not None:
        model_cfg.backbone.init_cfg = None
    try:
        model = MODELS.build(model_cfg)
    except (KeyError, TypeError, ValueError, AssertionError) as e:  # unknown type, bad or missing argument
        raise ConfigError(f'cannot build the model of the config: {_one_line(e)}') from e
    meta = {}
    if checkpoint is not None:
        meta = load_model_checkpoint(model, checkpoint)
    classes = meta.get('dataset_meta', {}).get('classes') or _config_classes(cfg)
    model.dataset_meta = {'classes': tuple(classes) if classes else None}
    model.cfg = cfg
    return model.to(device).eval()


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def _config_classes(cfg: Config) -> Optional[Tuple[str, ...]]:
    """Class names from the test dataset's metainfo or its dataset class."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    classes = dataset.get('metainfo', {}).get('classes')
    if classes:
        return tuple(classes)
    try:
        from mmdet.registry import DATASETS
        return tuple(DATASETS.get(dataset.get('type')).METAINFO['classes'])
    except Exception:  # a config without a known dataset: labels are drawn as cls<i>
        return None


def _find_resize(pipeline) -> Optional[dict]:
    for step in pipeline or []:
        if step.get('type') == 'Resize':
            return step
        found = _find_resize(step.get('transforms'))
        if found:
            return found
    return None


MIN_SIDE = 32  # the coarsest level (stride 64 after the neck) keeps at least one cell per side
MAX_SIDE = 8192  # e.g. a 20:1 panorama resized to short side 360 is 7200 wide


class FramePreprocessor:
    """The config's test-time resize (none: original size) and the model's normalization, per frame."""

    def __init__(self, model: nn.Module) -> None:
        pipeline = model.cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline')
        resize = _find_resize(pipeline)
        self.resize = TRANSFORMS.build(copy.deepcopy(resize)) if resize else None
        pre = model.data_preprocessor
        self.bgr_to_rgb = bool(getattr(pre, '_channel_conversion', False))
        self.mean = pre.mean if getattr(pre, '_enable_normalize', False) else None
        self.std = pre.std if getattr(pre, '_enable_normalize', False) else None

    def resize_frame(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 BGR -> the network-size frame.

        Raises:
            VideoInputError: the network-size frame has a side below :data:`MIN_SIDE` (the deepest feature level
                would be empty) or above :data:`MAX_SIDE` (an extreme aspect ratio blown up by a short-side resize).
        """
        if self.resize is not None:
            frame = self.resize(dict(img=frame, img_shape=frame.shape[:2], ori_shape=frame.shape[:2]))['img']
        h, w = frame.shape[:2]
        if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
            raise VideoInputError(f'frames are {h}x{w} at network size; each side must be in [{MIN_SIDE}, '
                                  f'{MAX_SIDE}] pixels (upscale tiny videos, crop or pad extreme aspect ratios)')
        return frame

    def to_tensor(self, frames: List[np.ndarray], device) -> torch.Tensor:
        """Resized frames -> (t, 3, h, w) float normalized."""
        x = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2).float()
        if self.bgr_to_rgb:
            x = x[:, [2, 1, 0]]
        if self.mean is not None:
            x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        return x


def _frame_sample(meta: dict, frame_id: int, instances: InstanceData) -> DetDataSample:
    sample = DetDataSample(metainfo=dict(meta, frame_id=frame_id))
    sample.pred_track_instances = instances
    return sample


class ClipPrediction:
    """Decoder and top-k selection of one encoded clip; masks on demand, for any range of its frames.

    Args:
        model: a SeqFormer. enc: :meth:`EncodedClip.finish` output. topk: pairs kept (None: config).
        meta: ``img_shape`` (network size) and ``ori_shape`` of the frames.
    """

    @torch.no_grad()
    def __init__(self, model: nn.Module, enc: dict, topk: Optional[int], meta: dict) -> None:
        num = enc['memory'].shape[0]
        dec = model.decode(enc, 1, num)
        self.head: SeqFormerHead = model.track_head
        self.mask_feats = enc['mask_feats']
        self.meta = meta
        inst = dec['inst_queries'][-1, 0]
        saved = self.head.test_cfg
        if topk is not None:
            self.head.test_cfg = dict(saved or {}, max_per_video=topk)
        try:
            self.scores, self.labels, query_inds = self.head.select_topk(inst)
        finally:
            self.head.test_cfg = saved
        self.queries = inst[query_inds]
        self.reference = dec['references'][-1][0][:, query_inds]

    def keep(self, keep: torch.Tensor) -> None:
        """Keep only the pairs where ``keep`` (k,) is True."""
        self.scores, self.labels, self.queries = self.scores[keep], self.labels[keep], self.queries[keep]
        self.reference = self.reference[:, keep]

    @torch.no_grad()
    def masks(self, start: int, stop: int, rescale: bool = True) -> torch.Tensor:
        """(k, stop - start, H, W) bool masks of frames [start, stop): original size with ``rescale``."""
        return self.head.predict_masks(self.queries, self.reference[start:stop], self.mask_feats[start:stop],
                                       self.meta, rescale)


def _encode_frames(model: nn.Module, pre: FramePreprocessor, frames: List[np.ndarray], chunk_size: int) -> dict:
    clip = EncodedClip(model, len(frames))
    device = next(model.parameters()).device
    for start in range(0, len(frames), chunk_size):
        clip.add(pre.to_tensor(frames[start:start + chunk_size], device))
    return clip.finish()


def iter_video_results(model: nn.Module, video: VideoLike, chunk_size: int = 8, max_frames: Optional[int] = None,
                       frame_stride: int = 1, topk: Optional[int] = None, score_thr: float = 0.0,
                       window_size: Optional[int] = None, window_stride: Optional[int] = None,
                       link_iou_thr: float = 0.5, progress: Progress = None) -> Iterator[DetDataSample]:
    """Yield one ``DetDataSample`` per kept frame, in order, with ``pred_track_instances`` at original size.

    Nothing of size (Q x T x H x W) is built: frames are resized as they are read, backbone, neck and encoder
    run ``chunk_size`` frames at a time, masks exist only for the top-k (query, class) pairs and are made,
    upsampled and handed out one chunk of frames at a time. Pairs whose mask is empty in every frame are
    still yielded (their masks are empty); :func:`inference_video` drops them as the official inference does.

    Without ``window_size`` the whole video is one clip (official offline semantics), decoded at once, or in
    linked windows when the config's ``test_cfg`` sets ``window_size`` (:class:`WindowedVideo`, as ``tools/test.py``
    does). With ``window_size``, frames are read and encoded one window at a time: clips of ``window_size`` frames
    start every ``window_stride`` frames and the top-k (query, class) pairs are linked across windows by mask IoU
    on the overlapping frames (see :class:`WindowLinker`): bounded memory for very long videos.
    """
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    source = video if isinstance(video, VideoSource) else VideoSource(video, max_frames, frame_stride)
    pre = FramePreprocessor(model)
    total = source.expected_frames()
    if window_size is not None:
        yield from _iter_windows(model, source, pre, total, chunk_size, topk, score_thr, window_size,
                                 window_stride, link_iou_thr, progress)
        return
    device = next(model.parameters()).device
    clip = EncodedClip(model, total)
    buffer: List[np.ndarray] = []
    ori_hw = net_hw = None
    for i, frame in enumerate(source):
        ori_hw = ori_hw or tuple(frame.shape[:2])
        buffer.append(pre.resize_frame(frame))
        net_hw = net_hw or tuple(buffer[0].shape[:2])
        if len(buffer) == chunk_size:
            clip.add(pre.to_tensor(buffer, device))
            buffer = []
        if progress:
            progress('encode', i + 1, total)
    if buffer:
        clip.add(pre.to_tensor(buffer, device))
    num = clip.num
    meta = dict(img_shape=net_hw, ori_shape=ori_hw, video_length=num)
    if (model.track_head.test_cfg or {}).get('window_size'):  # the config decodes in linked windows
        pred = WindowedVideo(model, clip.finish(), num, meta, topk)
    else:
        pred = ClipPrediction(model, clip.finish(), topk, meta)
    del clip
    pred.keep(pred.scores >= score_thr)
    ids = torch.arange(len(pred.scores), device=pred.scores.device)
    for start in range(0, num, chunk_size):
        masks = pred.masks(start, min(num, start + chunk_size))
        for j, inst in enumerate(SeqFormerHead.frame_results(masks, pred.scores, pred.labels, ids)):
            yield _frame_sample(meta, start + j, inst)
        if progress:
            progress('masks', start + masks.shape[1], num)


def _iter_windows(model, source, pre, total, chunk_size, topk, score_thr, window_size, window_stride,
                  link_iou_thr, progress) -> Iterator[DetDataSample]:
    """Windowed mode of :func:`iter_video_results`; each frame is reported from the first window holding it."""
    stride = checked_window_stride(window_size, window_stride)
    linker = WindowLinker(iou_thr=link_iou_thr)
    frames: List[np.ndarray] = []
    start = 0  # video index of frames[0]; every frame before it has been reported
    ori_hw = None

    def run(last: bool) -> Iterator[DetDataSample]:
        meta = dict(img_shape=tuple(frames[0].shape[:2]), ori_shape=ori_hw, video_length=total)
        pred = ClipPrediction(model, _encode_frames(model, pre, frames, chunk_size), topk, meta)
        pred.keep(pred.scores >= score_thr)
        ids = linker.link(pred.masks(0, len(frames), rescale=False), pred.labels, start)
        stop = len(frames) if last else stride
        for t0 in range(0, stop, chunk_size):
            masks = pred.masks(t0, min(stop, t0 + chunk_size))
            for j, inst in enumerate(SeqFormerHead.frame_results(masks, pred.scores, pred.labels, ids)):
                yield _frame_sample(meta, start + t0 + j, inst)
            if progress:
                progress('masks', start + t0 + masks.shape[1], total)

    for i, frame in enumerate(source):
        ori_hw = ori_hw or tuple(frame.shape[:2])
        frames.append(pre.resize_frame(frame))
        if progress:
            progress('encode', i + 1, total)
        if len(frames) == window_size:
            yield from run(last=False)
            frames = frames[stride:]
            start += stride
    if frames:
        yield from run(last=True)


def inference_video(model: nn.Module, video: VideoLike, chunk_size: int = 8, max_frames: Optional[int] = None,
                    frame_stride: int = 1, topk: Optional[int] = None, score_thr: float = 0.0,
                    window_size: Optional[int] = None, window_stride: Optional[int] = None,
                    link_iou_thr: float = 0.5, progress: Progress = None) -> TrackDataSample:
    """Run SeqFormer on a whole video.

    Args:
        model: from :func:`init_model`.
        video: a video file, a folder of frames, a glob, a list of image paths or a list of arrays (BGR), or a
            :class:`VideoSource`.
        chunk_size: frames per backbone/encoder/mask chunk (memory vs. speed; the result does not depend on it).
        max_frames, frame_stride: keep every ``frame_stride``-th frame, at most ``max_frames`` of them.
        topk: (query, class) pairs kept per video (default: the config's ``max_per_video``, official 10).
        score_thr: drop pairs scoring below it (default 0: the official results keep all top-k).
        window_size, window_stride, link_iou_thr: windowed mode (see :func:`iter_video_results`).
        progress: ``callback(stage, done, total)`` with stages ``read``, ``encode``, ``masks``.

    Returns:
        TrackDataSample with one frame per kept frame, each with ``pred_track_instances`` (``masks`` (k, H, W)
        bool at the original size, ``bboxes`` (k, 4) xyxy, ``scores``, ``labels``, ``instances_id``); the same
        instances on every frame. Pairs with an empty mask in every frame are dropped (official).
    """
    samples = list(iter_video_results(model, video, chunk_size, max_frames, frame_stride, topk, score_thr,
                                      window_size, window_stride, link_iou_thr, progress))
    if samples:
        nonempty = torch.stack([s.pred_track_instances.masks.flatten(1).any(1) for s in samples]).any(0)
        if window_size is None:  # windowed tracks already differ per frame; only offline pairs are fixed
            for s in samples:
                s.pred_track_instances = s.pred_track_instances[nonempty]
    video_sample = TrackDataSample()
    video_sample.video_data_samples = samples
    video_sample.set_metainfo(dict(video_length=len(samples)))
    return video_sample
