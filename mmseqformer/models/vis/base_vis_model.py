"""The video-inference interface every VIS model implements: frames in as an iterator, final per-frame results out.

``tools/test.py`` (through :meth:`BaseVISModel.predict`), ``apis.inference_video``, the demo and the benchmark call
only this interface; a model owns its test rules (``test_cfg``), its input-size limits and its benchmark stages.
Two kinds implement it: :class:`OfflineClipVISModel` (encode frames in chunks, decode the clip or windows of it,
masks for any frame range) and :class:`OnlineVISModel` (a per-frame step with tracker state).
"""
from abc import ABCMeta, abstractmethod
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import torch
from mmdet.models.mot import BaseMOTModel
from mmdet.structures import TrackSampleList
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from torch import Tensor

# (frame index in the video, that frame's results)
FrameResult = Tuple[int, InstanceData]


class BaseVISModel(BaseMOTModel, metaclass=ABCMeta):
    """A video instance segmentation model with a streaming video interface.

    Subclasses set ``self.test_cfg`` (a dict, never changed after construction) and implement
    :meth:`predict_video`.

    Attributes:
        min_input_side, max_input_side: the frame sides (pixels, at network size) the model accepts.
    """

    min_input_side: int = 32
    max_input_side: int = 8192

    @property
    def video_test_cfg(self) -> dict:
        """The model's test rules (``test_cfg``), read-only by convention."""
        return getattr(self, 'test_cfg', None) or {}

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ValueError (one line) when frames of ``height`` x ``width`` (network size) cannot be segmented."""
        lo, hi = self.min_input_side, self.max_input_side
        if min(height, width) < lo or max(height, width) > hi:
            raise ValueError(f'frames are {height}x{width} at network size; each side must be in [{lo}, {hi}] '
                             f'pixels (upscale tiny videos, crop or pad extreme aspect ratios)')

    @abstractmethod
    def predict_video(self, frames: Iterable[Tensor], meta: dict, chunk_size: Optional[int] = None,
                      rescale: bool = True) -> Iterator[FrameResult]:
        """Segment and track one video given frame by frame.

        Args:
            frames: (3, h, w) normalized frames at network size, one size, on the model's device, in order.
            meta: ``img_shape`` (h, w), ``ori_shape`` (H, W) and, if known, ``video_length`` (a capacity hint).
            chunk_size: frames processed together (memory vs. speed; results do not depend on it beyond float
                rounding). None: the model's choice.
            rescale: masks at ``ori_shape`` (else ``img_shape``).

        Yields:
            (frame index, InstanceData(masks (k, H, W) bool, bboxes (k, 4) xyxy, scores (k,), labels (k,),
            instances_id (k,))) for every frame, in order, each as soon as it is final.
        """

    def benchmark_stages(self) -> Dict[str, List[Tuple[object, str]]]:
        """Stage name -> the (object, method name) calls timed as that stage by the benchmark (in pipeline order)."""
        return {}

    def training_clip_meta(self, num_frames: int) -> dict:
        """The clip-level meta information a training clip of ``num_frames`` frames carries, as the model's training
        pipeline packs it (the benchmark builds its training batches with it); ``{}``: none.

        Raises:
            ValueError: the model does not train on clips of that length.
        """
        return {}

    def predict(self, inputs: Tensor, data_samples: TrackSampleList, rescale: bool = True,
                **kwargs) -> TrackSampleList:
        """Whole-video inference of a batch through :meth:`predict_video`; writes ``pred_track_instances``.

        Tracks whose mask is empty in every frame are dropped unless ``test_cfg.drop_empty`` is False.

        Args:
            inputs: (N, T, 3, H, W) normalized frames, one whole video per sample.
        """
        for b, sample in enumerate(data_samples):
            results = [r for _, r in self.predict_batch_video(inputs, data_samples, b, rescale)]
            if self.video_test_cfg.get('drop_empty', True):
                results = drop_empty_tracks(results)
            for i, result in enumerate(results):
                sample[i].pred_track_instances = result
        return data_samples

    def predict_batch_video(self, inputs: Tensor, data_samples: TrackSampleList, index: int,
                            rescale: bool) -> Iterator[FrameResult]:
        """:meth:`predict_video` on video ``index`` of a batch; models that handle padded batches override it."""
        meta = data_samples[index][0].metainfo
        img_h, img_w = meta['img_shape'][:2]
        frames = inputs[index, :, :, :img_h, :img_w]
        chunk = self.video_test_cfg.get('chunk_size') or frames.shape[0]
        return self.predict_video(iter(frames), meta, chunk, rescale)


def frame_instances(masks: Tensor, scores: Tensor, labels: Tensor, ids: Tensor) -> List[InstanceData]:
    """Per-frame ``InstanceData`` of tracks with one score and label each.

    Args:
        masks: (k, t, H, W) bool. scores, labels, ids: (k,).

    Returns:
        t InstanceData(masks (k, H, W), bboxes (k, 4) xyxy, scores, labels, instances_id).
    """
    return [InstanceData(masks=masks[:, t], bboxes=mask2bbox(masks[:, t]), scores=scores, labels=labels,
                         instances_id=ids) for t in range(masks.shape[1])]


def drop_empty_tracks(results: List[InstanceData]) -> List[InstanceData]:
    """Drop the tracks (by ``instances_id``) whose mask is empty in every frame, as the official inference does."""
    nonempty = set()
    for inst in results:
        nonempty.update(inst.instances_id[inst.masks.flatten(1).any(1)].tolist())
    out = []
    for inst in results:
        keep = torch.tensor([i in nonempty for i in inst.instances_id.tolist()], dtype=torch.bool)
        out.append(inst[keep.to(inst.instances_id.device)])
    return out
