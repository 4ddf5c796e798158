"""ObjProp (Chakravarthy et al., arXiv 2111.07529): MaskTrack R-CNN plus a propagation head that carries objects
through the frames where the detector misses them; optionally the follow-up study's attention neck before the RPN."""
from typing import Dict, List, Optional, Tuple

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.structures import InstanceData
from torch import Tensor

from .online_masktrack_rcnn import OnlineMaskTrackRCNN, split_key_ref


@MODELS.register_module()
class ObjPropMaskTrackRCNN(OnlineMaskTrackRCNN):
    """MaskTrack R-CNN + ``prop_head`` (:class:`ObjPropHead`), tracked by an :class:`ObjPropTracker`.

    Training adds the propagation losses (reference GT instances propagated into the key frame) to MaskTrack R-CNN's.
    With ``neck_attn`` (:class:`InterFrameAttnNeck`) the RPN sees the key frame's FPN levels attended to the
    reference frame's, in training; at test only with ``test_cfg.neck_attn=True`` (reference = the previous frame,
    the first frame its own), since the original fed the RPN the plain levels at test.

    Args:
        detector, track_head, tracker, data_preprocessor, test_cfg: as :class:`OnlineMaskTrackRCNN`.
        prop_head: the propagation head config. neck_attn: the attention neck config, or None.
    """

    def __init__(self, detector: dict, track_head: dict, tracker: dict, prop_head: dict,
                 neck_attn: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(detector=detector, track_head=track_head, tracker=tracker,
                         data_preprocessor=data_preprocessor, test_cfg=test_cfg, init_cfg=init_cfg)
        self.prop_head = MODELS.build(prop_head)
        self.neck_attn = MODELS.build(neck_attn) if neck_attn else None
        if self.test_cfg.get('neck_attn') and self.neck_attn is None:
            raise ValueError('test_cfg.neck_attn=True needs a neck_attn')

    def loss(self, inputs: Tensor, data_samples: List[TrackDataSample], **kwargs) -> dict:
        """MaskTrack R-CNN's losses (the RPN's on the attended levels with a neck) + ``loss_propattn``,
        ``loss_propmask`` on (N, 2, 3, H, W) key + reference frames."""
        key_imgs, ref_imgs, key_samples, ref_samples = split_key_ref(inputs, data_samples)
        x, ref_x = self.detector.extract_feat(key_imgs), self.detector.extract_feat(ref_imgs)
        rpn_x = self.neck_attn(x, ref_x) if self.neck_attn is not None else x
        losses = self.masktrack_losses(x, rpn_x, ref_x, key_samples, data_samples, **kwargs)
        losses.update(self.prop_head.loss(x, ref_x, key_samples, ref_samples))
        return losses

    def rpn_features(self, feats: List[Tensor], state: object) -> List[Tensor]:
        """The FPN levels, attended to the previous frame's if ``test_cfg.neck_attn`` (the tracker keeps them)."""
        if not self.test_cfg.get('neck_attn'):
            return feats
        previous = state.previous_feats if state.previous_feats is not None else feats
        state.previous_feats = feats
        return self.neck_attn(feats, previous)

    def associate(self, tracker: object, feats: List[Tensor], sample: DetDataSample, rescale: bool) -> InstanceData:
        """MaskTrack R-CNN's ids for the detections (``tracker.associate``)."""
        return tracker.associate(model=self, feats=feats, data_sample=sample, rescale=rescale)

    def fill_missed(self, tracker: object, feats: List[Tensor], sample: DetDataSample, tracks: InstanceData,
                    rescale: bool) -> InstanceData:
        """Propagates the ids of recent frames that the detector missed (unless ``tracker.propagate`` is off)."""
        if not tracker.propagate:
            return tracks
        return tracker.complete(self.prop_head, self.prop_head.fuse(feats), tracks, sample.metainfo, rescale)

    def benchmark_stages(self) -> Dict[str, List[Tuple[object, str]]]:
        return dict(super().benchmark_stages(), propagate=[(self, 'fill_missed')])
