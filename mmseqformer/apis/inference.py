"""Video inference API: build any VIS model from a config and run it on a video through the model's interface."""
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

from ..models.vis import BaseVISModel, drop_empty_tracks
from ..utils.config_check import suspicious_keys
from .checkpoint import load_model_checkpoint
from .deployed import build_exported_model
from .video_source import VideoInputError, VideoLike, VideoSource

Progress = Optional[Callable[[str, int, int], None]]


class ConfigError(ValueError):
    """A config that cannot be read, or whose model cannot be built (unknown type, bad argument)."""


def init_model(config: Union[str, os.PathLike, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None, backend: str = 'pytorch') -> nn.Module:
    """Build a video instance segmentation model from a config and load a checkpoint into it.

    Args:
        config: config file or :class:`Config`.
        checkpoint: a ``.pth`` (mmengine checkpoint or bare state dict); None keeps random weights (the
            backbone's ``init_cfg`` is dropped so nothing is read from disk). With another ``backend``: the folder
            ``tools/deployment/export_onnx.py`` wrote from this config.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:0'`` ...
        cfg_options: overrides merged into the config.
        backend: ``pytorch``, or a runtime of exported graphs (``onnxruntime``, ``openvino``;
            :class:`~mmseqformer.deploy.ExportedClipModel`).

    Returns:
        the model in eval mode on ``device``, with ``cfg`` and ``dataset_meta`` (``classes``, and ``palette``
        when the config's dataset has one) set.

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
        try:
            cfg.merge_from_dict(cfg_options)
        except Exception as e:  # e.g. a key below a value that is not a dict
            raise ConfigError(f'cannot apply the config options: {_one_line(e)}') from e
    for message in suspicious_keys(cfg.keys()):
        warnings.warn(message, stacklevel=2)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if backend != 'pytorch':
        model = build_exported_model(cfg, checkpoint, backend)
        return _finish(model, cfg, dict(dataset_meta=dict(classes=model.manifest.get('classes'))), device)
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
    return _finish(model, cfg, meta, device)


def _finish(model: nn.Module, cfg: Config, meta: dict, device: str) -> nn.Module:
    """``dataset_meta`` (the checkpoint's classes first) and ``cfg`` on the model, on ``device`` in eval mode."""
    dataset_meta = _config_meta(cfg)
    classes = meta.get('dataset_meta', {}).get('classes') or dataset_meta.get('classes')
    model.dataset_meta = dict(dataset_meta, classes=tuple(classes) if classes else None)
    model.cfg = cfg
    return model.to(device).eval()


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def _config_meta(cfg: Config) -> dict:
    """``classes`` (and ``palette``) of the test dataset's metainfo or of its dataset class."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    meta = dict(dataset.get('metainfo') or {})
    if not meta.get('classes'):
        try:
            from mmdet.registry import DATASETS
            meta = dict(DATASETS.get(dataset.get('type')).METAINFO, **meta)
        except Exception:  # a config without a known dataset: labels are drawn as cls<i>
            return {}
    return {key: tuple(meta[key]) for key in ('classes', 'palette') if meta.get(key)}


def _find_resize(pipeline) -> Optional[dict]:
    for step in pipeline or []:
        if step.get('type') == 'Resize':
            return step
        found = _find_resize(step.get('transforms'))
        if found:
            return found
    return None


class FramePreprocessor:
    """The config's test-time resize (none: original size), the model's size limits and normalization, per frame."""

    def __init__(self, model: BaseVISModel) -> None:
        pipeline = model.cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline')
        resize = _find_resize(pipeline)
        self.resize_cfg = copy.deepcopy(resize)  # the test pipeline's Resize step, or None
        self.resize = TRANSFORMS.build(copy.deepcopy(resize)) if resize else None
        self.model = model
        pre = model.data_preprocessor
        self.bgr_to_rgb = bool(getattr(pre, '_channel_conversion', False))
        self.mean = pre.mean if getattr(pre, '_enable_normalize', False) else None
        self.std = pre.std if getattr(pre, '_enable_normalize', False) else None

    def resize_frame(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 BGR -> the network-size frame.

        Raises:
            VideoInputError: the model cannot segment frames of the network size (its ``check_input_size``).
        """
        if self.resize is not None:
            frame = self.resize(dict(img=frame, img_shape=frame.shape[:2], ori_shape=frame.shape[:2]))['img']
        try:
            self.model.check_input_size(*frame.shape[:2])
        except ValueError as e:
            raise VideoInputError(str(e)) from None
        return frame

    def to_tensor(self, frames: List[np.ndarray], device) -> torch.Tensor:
        """Resized frames -> (t, 3, h, w) float normalized."""
        x = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2).float()
        if self.bgr_to_rgb:
            x = x[:, [2, 1, 0]]
        if self.mean is not None:
            x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        return x


class _FrameReader:
    """Network-size normalized frames of a video source, one at a time, counting what was read."""

    def __init__(self, source: VideoSource, pre: FramePreprocessor, device, progress: Progress) -> None:
        self.frames = iter(source)
        self.pre, self.device, self.progress = pre, device, progress
        self.total = source.expected_frames()
        self.count = 0
        self.ended = False
        self.first = self._next()
        if self.first is None:
            raise VideoInputError(f'{source.name}: no frames to read')
        self.ori_hw = self.first[1]

    def _next(self) -> Optional[Tuple[np.ndarray, Tuple[int, int]]]:
        frame = next(self.frames, None)
        if frame is None:
            self.ended = True
            return None
        self.count += 1
        if self.progress:
            self.progress('encode', self.count, self.total)
        return self.pre.resize_frame(frame), tuple(frame.shape[:2])

    def __iter__(self) -> Iterator[torch.Tensor]:
        item, self.first = self.first, None
        while item is not None:
            yield self.pre.to_tensor([item[0]], self.device)[0]
            item = self._next()


def _frame_sample(meta: dict, frame_id: int, instances: InstanceData) -> DetDataSample:
    sample = DetDataSample(metainfo=dict(meta, frame_id=frame_id))
    sample.pred_track_instances = instances
    return sample


def iter_video_results(model: BaseVISModel, video: VideoLike, chunk_size: int = 8, max_frames: Optional[int] = None,
                       frame_stride: int = 1, score_thr: float = 0.0,
                       progress: Progress = None) -> Iterator[DetDataSample]:
    """Yield one ``DetDataSample`` per kept frame, in order, with ``pred_track_instances`` at original size.

    Frames are read and resized one at a time and handed to the model's :meth:`~BaseVISModel.predict_video`,
    which owns the inference (its ``test_cfg``: clip or windows, top-k, linking; or a per-frame tracker). A result
    comes out as soon as the model has made it final: for an offline clip model after the last frame was read.
    Tracks whose mask is empty in every frame are still yielded (their masks are empty);
    :func:`inference_video` drops them as the official inference does.

    Args:
        chunk_size: frames the model processes together (memory vs. speed; the result does not depend on it
            beyond float rounding).
        score_thr: leave out instances scoring below it.
    """
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    source = video if isinstance(video, VideoSource) else VideoSource(video, max_frames, frame_stride)
    device = model.data_preprocessor.device
    reader = _FrameReader(source, FramePreprocessor(model), device, progress)
    meta = dict(img_shape=tuple(reader.first[0].shape[:2]), ori_shape=reader.ori_hw, video_length=reader.total)
    for frame_id, instances in model.predict_video(reader, meta, chunk_size):
        length = reader.count if reader.ended else max(reader.total, reader.count)
        if score_thr > 0:
            instances = instances[instances.scores >= score_thr]
        yield _frame_sample(dict(meta, video_length=length), frame_id, instances)
        if progress:
            progress('masks', frame_id + 1, length)


def inference_video(model: BaseVISModel, video: VideoLike, chunk_size: int = 8, max_frames: Optional[int] = None,
                    frame_stride: int = 1, score_thr: float = 0.0, progress: Progress = None) -> TrackDataSample:
    """Run a VIS model on a whole video.

    Args:
        model: from :func:`init_model`; its ``test_cfg`` decides how the video is decoded (change it with
            ``cfg_options`` there, e.g. ``{'model.test_cfg.max_per_video': 5}``).
        video: a video file, a folder of frames, a glob, a list of image paths or a list of arrays (BGR), or a
            :class:`VideoSource`.
        chunk_size: frames the model processes together (memory vs. speed).
        max_frames, frame_stride: keep every ``frame_stride``-th frame, at most ``max_frames`` of them.
        score_thr: drop instances scoring below it (default 0: the official results keep all top-k).
        progress: ``callback(stage, done, total)`` with stages ``encode`` (frames read) and ``masks``.

    Returns:
        TrackDataSample with one frame per kept frame, each with ``pred_track_instances`` (``masks`` (k, H, W)
        bool at the original size, ``bboxes`` (k, 4) xyxy, ``scores``, ``labels``, ``instances_id``). Tracks with
        an empty mask in every frame are dropped (official).
    """
    samples = list(iter_video_results(model, video, chunk_size, max_frames, frame_stride, score_thr, progress))
    for sample, instances in zip(samples, drop_empty_tracks([s.pred_track_instances for s in samples])):
        sample.pred_track_instances = instances
    video_sample = TrackDataSample()
    video_sample.video_data_samples = samples
    video_sample.set_metainfo(dict(video_length=len(samples)))
    return video_sample
