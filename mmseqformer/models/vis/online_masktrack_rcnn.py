"""MaskTrack R-CNN (Yang et al., ICCV 2019) on the online video interface.

mmdet's ``MaskTrackRCNN`` is reused as is for its parts and its training loss (a key and a reference frame); this
class adds the frame-by-frame inference of :class:`OnlineVISModel`: detect (Mask R-CNN), then associate the
detections with the tracks of earlier frames (mmdet's tracker, one per video, with a bounded history).
"""
import copy
from typing import Dict, List, Optional, Tuple

from mmdet.models.vis import MaskTrackRCNN
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
import torch
from mmengine.model.utils import stack_batch
from mmengine.structures import InstanceData
from torch import Tensor

from .online_model import OnlineVISModel


def split_key_ref(inputs: Tensor, data_samples: List[TrackDataSample]) -> Tuple[Tensor, Tensor, list, list]:
    """(N, 2, 3, H, W) key + reference frames -> key images (N, 3, H, W), reference images, and their
    ``DetDataSample``s."""
    if inputs.dim() != 5 or inputs.size(1) != 2:
        raise ValueError(f'MaskTrack R-CNN trains on (N, 2, 3, H, W) key + reference frames, got {tuple(inputs.shape)}')
    key_samples = [sample.get_key_frames()[0] for sample in data_samples]
    ref_samples = [sample.get_ref_frames()[0] for sample in data_samples]
    batch = torch.arange(len(inputs))
    key = torch.tensor([sample.key_frames_inds[0] for sample in data_samples])
    ref = torch.tensor([sample.ref_frames_inds[0] for sample in data_samples])
    return inputs[batch, key].contiguous(), inputs[batch, ref].contiguous(), key_samples, ref_samples


@MODELS.register_module()
class OnlineMaskTrackRCNN(OnlineVISModel, MaskTrackRCNN):
    """MaskTrack R-CNN: Mask R-CNN plus a tracking head, tracked online.

    The parameters are exactly mmdet's ``MaskTrackRCNN``'s (``detector.*``, ``track_head.*``), so its released
    checkpoints load. Inference differs from mmdet's ``MaskTrackRCNN.predict`` only where that one is not what a
    video interface needs: a fresh tracker per video (not one shared by every video of a batch), its history bounded
    by the tracker config, and the same ``rescale`` for the detections and the tracker's RoI features.

    Args:
        detector, track_head: as mmdet's ``MaskTrackRCNN``.
        tracker: the tracker config; :meth:`init_video_state` builds a new one for each video.
        test_cfg: ``size_divisor`` (32: frames are padded bottom/right with zeros, after normalisation, as mmdet's
            ``TrackDataPreprocessor`` pads), ``drop_empty`` (as :class:`BaseVISModel`).
    """

    def __init__(self, detector: dict, track_head: dict, tracker: dict, data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(detector=detector, track_head=track_head, tracker=None,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.tracker_cfg = copy.deepcopy(tracker)
        self.test_cfg = {'size_divisor': 32, **(test_cfg or {})}

    def loss(self, inputs: Tensor, data_samples: List[TrackDataSample], **kwargs) -> dict:
        """mmdet's MaskTrack R-CNN loss on (N, 2, 3, H, W) key + reference frames (the same losses, in parts a
        subclass can extend)."""
        key_imgs, ref_imgs, key_samples, _ = split_key_ref(inputs, data_samples)
        x, ref_x = self.detector.extract_feat(key_imgs), self.detector.extract_feat(ref_imgs)
        return self.masktrack_losses(x, x, ref_x, key_samples, data_samples, **kwargs)

    def training_clip_meta(self, num_frames: int) -> dict:
        """A key frame then a reference frame, marked as mmdet's ``PackTrackInputs`` marks them."""
        if num_frames != 2:
            raise ValueError(f'{type(self).__name__} trains on a key and a reference frame: 2 frames, got {num_frames}')
        return dict(key_frames_inds=[0], ref_frames_inds=[1])

    def masktrack_losses(self, x: List[Tensor], rpn_x: List[Tensor], ref_x: List[Tensor],
                         key_samples: List[DetDataSample], data_samples: List[TrackDataSample], **kwargs) -> dict:
        """RPN losses on ``rpn_x``, detection and tracking losses on the key (``x``) and reference (``ref_x``) FPN
        levels."""
        proposal_cfg = self.detector.train_cfg.get('rpn_proposal', self.detector.test_cfg.rpn)
        rpn_losses, proposals = self.detector.rpn_head.loss_and_predict(rpn_x, key_samples, proposal_cfg=proposal_cfg,
                                                                        **kwargs)
        losses = {(f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k): v for k, v in rpn_losses.items()}
        losses.update(self.detector.roi_head.loss(x, proposals, key_samples, **kwargs))
        losses.update(self.track_head.loss(x, ref_x, proposals, data_samples, **kwargs))
        return losses

    def init_video_state(self, meta: dict) -> object:
        """A new tracker for the video (an mmdet tracker: ``track(model, feats, data_sample, rescale)``)."""
        return MODELS.build(copy.deepcopy(self.tracker_cfg))

    def pad_frame(self, frame: Tensor) -> Tensor:
        """(3, h, w) -> (1, 3, H, W) padded bottom/right with zeros to ``size_divisor`` (mmengine's ``stack_batch``,
        the padding of mmdet's preprocessors)."""
        return stack_batch([frame], pad_size_divisor=self.test_cfg['size_divisor'])

    def frame_sample(self, frame: Tensor, padded: Tensor, frame_id: int, meta: dict) -> DetDataSample:
        """The meta information mmdet's heads read for one (3, h, w) frame and its padded batch (1, 3, H, W)."""
        img_h, img_w = frame.shape[-2:]
        ori_h, ori_w = meta['ori_shape'][:2]
        pad_shape = tuple(padded.shape[-2:])
        return DetDataSample(metainfo=dict(img_shape=(img_h, img_w), ori_shape=(ori_h, ori_w),
                                           scale_factor=(img_w / ori_w, img_h / ori_h), pad_shape=pad_shape,
                                           batch_input_shape=pad_shape, frame_id=frame_id))

    def detect(self, padded: Tensor, sample: DetDataSample, rescale: bool, state: object = None) -> List[Tensor]:
        """Mask R-CNN on one frame; writes ``sample.pred_instances`` and returns the FPN features.

        Args:
            padded: (1, 3, H, W) normalised, from :meth:`pad_frame`. sample: from :meth:`frame_sample`.
            state: the video state (for :meth:`rpn_features`).

        Returns:
            FPN levels, each (1, C, H_l, W_l) of the padded frame.
        """
        feats = self.detector.extract_feat(padded)
        proposals = self.detector.rpn_head.predict(self.rpn_features(feats, state), [sample])
        sample.pred_instances = self.detector.roi_head.predict(feats, proposals, [sample], rescale=rescale)[0]
        return feats

    def rpn_features(self, feats: List[Tensor], state: object) -> List[Tensor]:
        """The features the RPN sees at test time: the FPN levels themselves."""
        return feats

    def associate(self, tracker: object, feats: List[Tensor], sample: DetDataSample, rescale: bool) -> InstanceData:
        """Ids for ``sample.pred_instances`` from ``tracker``'s tracks (which it updates)."""
        return tracker.track(model=self, feats=feats, data_sample=sample, rescale=rescale)

    def fill_missed(self, tracker: object, feats: List[Tensor], sample: DetDataSample, tracks: InstanceData,
                    rescale: bool) -> InstanceData:
        """Tracks of objects the detector missed in this frame, appended to ``tracks``: none for MaskTrack R-CNN."""
        return tracks

    def track_frame(self, frame: Tensor, frame_id: int, meta: dict, state: object, rescale: bool) -> InstanceData:
        padded = self.pad_frame(frame)
        sample = self.frame_sample(frame, padded, frame_id, meta)
        feats = self.detect(padded, sample, rescale, state)
        tracks = self.fill_missed(state, feats, sample, self.associate(state, feats, sample, rescale), rescale)
        return InstanceData(masks=tracks.masks.bool(), bboxes=tracks.bboxes, scores=tracks.scores,
                            labels=tracks.labels, instances_id=tracks.instances_id)

    def benchmark_stages(self) -> Dict[str, List[Tuple[object, str]]]:
        return dict(backbone=[(self.detector, 'extract_feat')], rpn=[(self.detector.rpn_head, 'predict')],
                    roi_heads=[(self.detector.roi_head, 'predict')], track=[(self, 'associate')])
