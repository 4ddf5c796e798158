"""SeqFormer video instance segmentation model (Wu et al., ECCV 2022)."""
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.registry import MODELS
from mmdet.structures import TrackSampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor, nn

from ..layers import SeqFormerDecoder
from ..utils.mask_resize import resize_mask_logits
from .deploy_graph import DeployGraph
from .offline_clip_model import OfflineClipVISModel
from .seqformer_clip import SeqFormerClip
from .seqformer_deploy import seqformer_deploy_graphs


@MODELS.register_module()
class SeqFormer(OfflineClipVISModel):
    """SeqFormer: one query per instance for the whole clip.

    Frames are folded into the batch for backbone, neck and the deformable encoder (the encoder
    attends within each frame); the decoder keeps the (video, frame) structure.

    The encoder stage (positional encoding, level embeddings, flattening, the deformable encoder) is a
    :class:`MultiScaleDeformableEncoder`. Its level embeddings keep the state-dict key ``level_embed`` that
    checkpoints (ours and converted official ones) have always used, although the parameter is
    ``encoder.level_embed``: ``state_dict()`` writes and loading reads the old key (see
    :meth:`_load_from_state_dict`), so every checkpoint loads strictly and none needs converting.

    Args:
        backbone, neck: image backbone and multi-level projection (``ChannelMapper`` with an extra
            stride-64 level).
        encoder: ``MultiScaleDeformableEncoder`` kwargs (the type may be omitted) without
            ``positional_encoding`` and ``num_levels``, which come from the arguments of those names.
        decoder: ``SeqFormerDecoder`` kwargs.
        positional_encoding: ``SinePositionalEncoding`` kwargs.
        track_head: ``SeqFormerHead`` config (class/box branches, mask head, losses, test_cfg).
        num_queries: instance queries (300).
        num_feature_levels: levels fed to the transformer (4).
        num_query_groups: training-only groups of ``num_queries`` queries (Group DETR, Chen et al., ICCV
            2023): each group is decoded on its own (no attention between groups) and matched one-to-one
            to the targets on its own, so every target supervises ``num_query_groups`` queries per step and
            training converges in fewer iterations. Inference uses the first group only. 1 (official): off.
    """

    def __init__(self, backbone: ConfigType, neck: ConfigType, encoder: ConfigType, decoder: ConfigType,
                 positional_encoding: ConfigType, track_head: ConfigType, num_queries: int = 300,
                 num_feature_levels: int = 4, num_query_groups: int = 1, data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None, test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        encoder_cfg = dict(type='MultiScaleDeformableEncoder')
        encoder_cfg.update(encoder, positional_encoding=positional_encoding, num_levels=num_feature_levels)
        self.encoder = MODELS.build(encoder_cfg)
        self._register_state_dict_hook(SeqFormer._level_embed_state_key)
        self.decoder = SeqFormerDecoder(**decoder)
        self.embed_dims = self.encoder.embed_dims
        self.num_queries = num_queries
        self.num_feature_levels = num_feature_levels
        if num_query_groups < 1:
            raise ValueError(f'num_query_groups must be >= 1, got {num_query_groups}')
        self.num_query_groups = num_query_groups
        self.query_embedding = nn.Embedding(num_queries * num_query_groups, self.embed_dims * 2)
        self.reference_points_fc = nn.Linear(self.embed_dims, 2)
        if train_cfg is not None:
            track_head.update(train_cfg=train_cfg)
        if test_cfg is not None:
            track_head.update(test_cfg=test_cfg)
        self.track_head = MODELS.build(track_head)
        self.check_test_cfg()
        self.num_classes = self.track_head.num_classes

    def init_weights(self) -> None:
        # The order of the random draws is SeqFormer's since before the encoder stage was a module (seeded
        # training runs keep their weights): encoder and decoder matrices, all attention inits, reference
        # points, then level embeddings.
        super().init_weights()
        for coder in (self.encoder.layers, self.decoder):
            for p in coder.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()
        nn.init.xavier_uniform_(self.reference_points_fc.weight)
        nn.init.zeros_(self.reference_points_fc.bias)
        nn.init.normal_(self.encoder.level_embed)

    # Checkpoints store the encoder's level embeddings as ``level_embed``, their key from before the encoder
    # stage was a module: state_dict() keeps writing it and loading maps it back, so no checkpoint changes.

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        old, new = prefix + 'level_embed', prefix + 'encoder.level_embed'
        if old in state_dict and new not in state_dict:
            state_dict[new] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def _level_embed_state_key(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
        """``state_dict()`` hook: ``encoder.level_embed`` is stored as ``level_embed``."""
        new = prefix + 'encoder.level_embed'
        if new in state_dict:
            state_dict[prefix + 'level_embed'] = state_dict.pop(new)

    # -- features ------------------------------------------------------------------------------

    def extract_feat(self, frames: Tensor) -> Tuple[Tensor, ...]:
        """(F, 3, H, W) -> multi-level features, each (F, C, H_l, W_l)."""
        return self.neck(self.backbone(frames))

    def encode(self, frames: Tensor, masks: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Backbone, neck, encoder and mask branch of F frames; every frame is independent of the others.

        Args:
            frames: (F, 3, H, W) normalized. masks: (F, H, W) True on padding, or None.

        Returns:
            dict: the encoder's entries (:meth:`MultiScaleDeformableEncoder.forward`: ``memory`` (F, S, C),
            ``feat``, ``feat_pos``, ``feat_mask``, ``spatial_shapes``, ``level_start_index``, ``valid_ratios``),
            ``mask_feats`` (F, c, H8, W8) and ``mlvl_feats`` (the neck levels).
        """
        mlvl_feats = self.extract_feat(frames)
        enc = self.encoder(mlvl_feats, masks)
        mask_feats = self.track_head.mask_head.mask_features(enc['memory'], enc['level_shapes'])
        return dict(enc, mask_feats=mask_feats, mlvl_feats=mlvl_feats)

    def decode(self, enc: Dict[str, Tensor], num_videos: int, num_frames: int, groups: int = 1) -> Dict[str, Tensor]:
        """Decoder of ``num_videos`` clips of ``num_frames`` frames on their encoder outputs.

        Args:
            enc: :meth:`encode` output of N*T frames (video-major).
            groups: query groups G to decode (training only, see ``num_query_groups``); group g of video n
                is decoded as clip ``n * G + g`` on the same encoder output.

        Returns:
            dict with ``inst_queries`` (num_layers, N*G, Q, C), ``box_queries`` (num_layers, N*G, T, Q, C),
            ``references`` (list of (N*G, T, Q, 2|4)), ``boxes`` (num_layers, N*G, T, Q, 4).
        """
        n, t, g = num_videos, num_frames, groups
        weight = self.query_embedding.weight[:self.num_queries * g].view(g, self.num_queries, -1)
        query_pos, query = weight[None].expand(n, -1, -1, -1).flatten(0, 1).split(self.embed_dims, dim=-1)
        reference_points = self.reference_points_fc(query_pos).sigmoid()
        # All frames of a video share its size, so its first frame's valid ratios stand for it.
        video_ratios = enc['valid_ratios'].view(n, t, *enc['valid_ratios'].shape[1:])[:, 0]
        memory, feat_mask = enc['memory'], enc['feat_mask']
        if g > 1:
            video_ratios = video_ratios.repeat_interleave(g, 0)
            memory = self.repeat_groups(memory, n, g)
            feat_mask = None if feat_mask is None else self.repeat_groups(feat_mask, n, g)
        inst, box, refs, boxes = self.decoder(
            query=query, query_pos=query_pos, value=memory, key_padding_mask=feat_mask,
            reference_points=reference_points, spatial_shapes=enc['spatial_shapes'],
            level_start_index=enc['level_start_index'], valid_ratios=video_ratios, num_frames=t,
            reg_branches=self.track_head.reg_branches)
        return dict(inst_queries=inst, box_queries=box, references=refs, boxes=boxes)

    @staticmethod
    def repeat_groups(frames: Tensor, num_videos: int, groups: int) -> Tensor:
        """(N*T, ...) video-major -> (N*G*T, ...): each video's frames repeated for each of its G groups."""
        per_video = frames.view(num_videos, 1, -1, *frames.shape[1:])
        return per_video.expand(-1, groups, *per_video.shape[2:]).flatten(0, 2)

    def forward_transformer(self, inputs: Tensor, data_samples: Optional[TrackSampleList],
                            groups: int = 1) -> Dict[str, Tensor]:
        """Backbone, neck, encoder, decoder and mask branch on a batch of clips.

        Args:
            inputs: (N, T, 3, H, W) normalized frames, padded to a common size.
            groups: query groups G (see :meth:`decode`); the decoder outputs are then of N*G clips.

        Returns:
            dict with ``memory`` (N*T, S, C), ``inst_queries`` (num_layers, N, Q, C),
            ``box_queries`` (num_layers, N, T, Q, C), ``references`` (list of (N, T, Q, 2|4)),
            ``boxes`` (num_layers, N, T, Q, 4), ``mask_feats`` (N*T, c, H8, W8), and the other
            :meth:`encode` entries.
        """
        n, t = inputs.shape[:2]
        enc = self.encode(inputs.flatten(0, 1), self.padding_masks(inputs, data_samples))
        return dict(enc, **self.decode(enc, n, t, groups))

    # -- modes ---------------------------------------------------------------------------------

    def loss(self, inputs: Tensor, data_samples: TrackSampleList, **kwargs) -> Dict[str, Tensor]:
        """Losses of a batch of clips; inputs (N, T, 3, H, W).

        With G query groups every group is matched and supervised as a clip of its own, so the losses are
        the mean over groups.
        """
        g = self.num_query_groups
        out = self.forward_transformer(inputs, data_samples, g)
        mask_feats = out['mask_feats']
        if g > 1:
            mask_feats = self.repeat_groups(mask_feats, inputs.shape[0], g)
            data_samples = [sample for sample in data_samples for _ in range(g)]
        return self.track_head.loss(out['inst_queries'], out['references'], out['boxes'], mask_feats,
                                    data_samples)

    # -- video interface ---------------------------------------------------------------------

    @property
    def test_cfg(self) -> Optional[dict]:
        """The test rules; one dict with the head's, which reads ``mask_thr`` from it."""
        return self.track_head.test_cfg

    per_frame_keys = ('memory', 'mask_feats', 'valid_ratios', 'feat_mask')

    def encode_frames(self, frames: Tensor, masks: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """:meth:`encode` entries the decoder and the masks need: ``memory`` (F, S, C), ``mask_feats``
        (F, c, H8, W8), ``valid_ratios`` (F, L, 2), ``feat_mask`` (F, S) or None, ``spatial_shapes``,
        ``level_start_index``."""
        enc = self.encode(frames, masks)
        return {k: enc[k] for k in (*self.per_frame_keys, 'spatial_shapes', 'level_start_index')}

    def decode_clip(self, enc: Dict[str, Tensor], meta: dict) -> SeqFormerClip:
        """Decode the T frames of ``enc`` as one clip (whole-video semantics within it)."""
        dec = self.decode(enc, 1, enc['memory'].shape[0])
        head = self.track_head
        inst = dec['inst_queries'][-1, 0]
        return SeqFormerClip(head.cls_branches[-1](inst).sigmoid(), inst, dec['references'][-1][0],
                             enc['mask_feats'], meta, head.video_masks, head.resize_masks,
                             (head.test_cfg or {}).get('mask_thr', 0.5))

    def deploy_graphs(self) -> List[DeployGraph]:
        return seqformer_deploy_graphs(self)

    @classmethod
    def deployed_clip(cls, decoded: Dict[str, Tensor], enc: dict, meta: dict, graphs: Any,
                      test_cfg: dict) -> SeqFormerClip:
        def video_masks(inst: Tensor, reference: Tensor, mask_feats: Tensor, img_hw: Tuple[int, int]) -> Tensor:
            if inst.shape[0] == 0:
                return mask_feats.new_zeros((0, mask_feats.shape[0], *(2 * s for s in mask_feats.shape[-2:])))
            return graphs.masks(inst, reference, mask_feats, mask_feats.new_tensor([img_hw[1], img_hw[0]]))

        return SeqFormerClip(decoded['logits'].sigmoid(), decoded['inst_queries'], decoded['reference'],
                             enc['mask_feats'], meta, video_masks, resize_mask_logits, test_cfg.get('mask_thr', 0.5))

    def benchmark_stages(self) -> Dict[str, List[Tuple[object, str]]]:
        head = self.track_head
        return dict(backbone=[(self.backbone, 'forward')], neck=[(self.neck, 'forward')],
                    encoder=[(self.encoder, 'forward')],
                    decoder=[(self, 'decode')],
                    mask_head=[(head.mask_head, 'mask_features'), (head, 'video_masks')],
                    postprocess=[(head, 'resize_masks')])

    def _forward(self, inputs: Tensor, data_samples: Optional[TrackSampleList] = None,
                 with_intermediates: bool = False, **kwargs) -> Dict[str, object]:
        """Raw outputs (tensor mode).

        Args:
            inputs: (N, T, 3, H, W) normalized, unpadded unless ``data_samples`` say otherwise.

        Returns:
            dict: ``pred_logits`` (N, Q, K) and ``pred_boxes`` (N, Q, T, 4) of the last layer,
            ``pred_masks`` (N, Q, T, 2*ceil(H/8), 2*ceil(W/8)) mask logits of all queries,
            ``aux_outputs`` (list over earlier layers of dicts with ``pred_logits``, ``pred_boxes``),
            and with ``with_intermediates`` the transformer intermediates.
        """
        out = self.forward_transformer(inputs, data_samples)
        n, t, _, h, w = inputs.shape
        logits, boxes = self.track_head(out['inst_queries'], out['boxes'])
        mask_feats = out['mask_feats'].view(n, t, *out['mask_feats'].shape[1:])
        masks = []
        for b in range(n):
            img_hw = (h, w) if data_samples is None else tuple(data_samples[b][0].metainfo['img_shape'][:2])
            masks.append(self.track_head.video_masks(out['inst_queries'][-1, b], out['references'][-1][b],
                                                     mask_feats[b], img_hw))
        result = dict(pred_logits=logits[-1], pred_boxes=boxes[-1], pred_masks=torch.stack(masks),
                      aux_outputs=[dict(pred_logits=lg, pred_boxes=bx) for lg, bx in zip(logits[:-1], boxes[:-1])])
        if with_intermediates:
            result['intermediates'] = out
        return result
