"""Deformable-VisTR: VisTR's frame-major queries and heads on a multi-scale deformable encoder (the idea of
DefVIS, Yan et al., ICASSP 2022, arXiv 2203.06318)."""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import Tensor

from .vistr import VisTR
from .vistr_clip import VisTRClip


@MODELS.register_module()
class DeformableVisTR(VisTR):
    """VisTR with a per-frame multi-scale deformable encoder instead of the single-scale DETR encoder on C5.

    Per frame: the backbone's C3..C5 go through a neck (``ChannelMapper`` with an extra stride-64 level) into a
    :class:`MultiScaleDeformableEncoder` (attention within the frame, over all levels). Per clip: VisTR's DETR
    decoder with its ``num_frames * queries_per_frame`` frame-major queries (q = t * P + j) attends to the
    frame-major memory of all frames and levels (token order t, level, y, x) with VisTR's 3D (z, y, x) sine
    positions of each level plus the encoder's level embeddings. VisTR's class/box head reads the decoder, and
    its mask head the memory of one level (``mask_memory_level``: stride 32) with the raw C4..C2.

    Not the DefVIS code: DefVIS also makes the decoder's cross-attention deformable over space and time; here the
    decoder is VisTR's dense one (its attention weights are never materialised).

    Args:
        neck: multi-level projection of C3..C5 to ``embed_dims`` (``num_feature_levels`` outputs).
        encoder: ``MultiScaleDeformableEncoder`` kwargs (type may be omitted; ``num_levels`` defaults to
            ``num_feature_levels``), with its own per-frame ``positional_encoding`` (2D sine).
        num_feature_levels: L, levels the neck gives and the encoder reads (4).
        mask_memory_level: the level whose memory feeds the mask head (2: stride 32, C5's resolution).
        **kwargs: :class:`VisTR` arguments (backbone returning C2..C5, positional_encoding (3D, for the decoder's
            keys), decoder, mask_head, track_head, num_frames, queries_per_frame, embed_dims, ...).
    """

    # frame buffers (video interface) hold these; all are per frame, so cyclic tiling of a short clip applies
    per_frame_keys = ('c2', 'c3', 'c4', 'src', 'mask_c5', 'memory', 'memory_mask', 'level_shapes')

    def __init__(self, neck: ConfigType, encoder: ConfigType, num_feature_levels: int = 4,
                 mask_memory_level: int = 2, **kwargs) -> None:
        encoder_cfg = dict(type='MultiScaleDeformableEncoder', num_levels=num_feature_levels)
        encoder_cfg.update(encoder)
        super().__init__(encoder=encoder_cfg, **kwargs)
        # VisTR's 1x1 projection of C5: here the neck projects every level
        del self.input_proj
        self.neck = MODELS.build(neck)
        if not 0 <= mask_memory_level < num_feature_levels:
            raise ValueError(f'mask_memory_level must be in [0, {num_feature_levels}), got {mask_memory_level}')
        if self.encoder.num_levels != num_feature_levels:
            raise ValueError(f'the encoder has {self.encoder.num_levels} levels, num_feature_levels is '
                             f'{num_feature_levels}')
        self.num_feature_levels = num_feature_levels
        self.mask_memory_level = mask_memory_level

    def init_weights(self) -> None:
        """VisTR's init, then Deformable DETR's for the encoder (zero sampling-offset weights with grid biases,
        normal level embeddings), which VisTR's xavier on every transformer matrix would otherwise replace."""
        super().init_weights()
        self.encoder.init_encoder_weights()

    # -- features ------------------------------------------------------------------------------

    def encode(self, frames: Tensor, masks: Optional[Tensor] = None) -> Dict[str, Optional[Tensor]]:
        """Per-frame part: backbone, neck and the deformable encoder; every frame is independent of the others.

        Args:
            frames: (F, 3, H, W) normalized. masks: (F, H, W) True on padding, or None.

        Returns:
            dict: ``c2``, ``c3``, ``c4`` (F, C_l, H_l, W_l) raw backbone levels (for the mask head),
            ``memory`` (F, S, C) and ``memory_mask`` (F, S) (True on padding) or None over all L levels
            (S = sum of H_l * W_l, level-major), ``level_shapes`` (F, L, 2) the (H_l, W_l) of the levels (the
            same for every frame), ``src`` (F, C, h, w) the memory of ``mask_memory_level`` as maps and
            ``mask_c5`` (F, h, w) its padding or None.
        """
        c2, c3, c4, c5 = self.extract_feat(frames)
        enc = self.encoder(self.neck((c3, c4, c5)), masks)
        shapes, lvl = enc['spatial_shapes'], self.mask_memory_level
        src = self.encoder.level_maps(enc['memory'], shapes, lvl)
        mask_c5 = None
        if enc['feat_mask'] is not None:
            mask_c5 = self.encoder.level_maps(enc['feat_mask'][..., None], shapes, lvl)[:, 0]
        return dict(c2=c2, c3=c3, c4=c4, src=src, mask_c5=mask_c5, memory=enc['memory'],
                    memory_mask=enc['feat_mask'], level_shapes=shapes[None].expand(frames.shape[0], -1, -1))

    def memory_positions(self, level_shapes: Tensor, memory_mask: Optional[Tensor], num_clips: int,
                         num_frames: int) -> Tensor:
        """Decoder key positions of the frame-major memory of N clips: per level, VisTR's 3D (z, y, x) sine code
        plus the encoder's level embedding.

        Args:
            level_shapes: (L, 2). memory_mask: (N*T, S) True on padding, or None.

        Returns:
            Tensor: (N, T*S, C) in token order (t, level, y, x).
        """
        n, t, c = num_clips, num_frames, self.embed_dims
        level_embed = self.encoder.level_embed
        codes, start = [], 0
        for lvl, (h, w) in enumerate(level_shapes.tolist()):
            if memory_mask is None:
                pad = level_embed.new_zeros((n, t, h, w), dtype=torch.bool)
            else:
                pad = memory_mask[:, start:start + h * w].reshape(n, t, h, w)
            code = self.positional_encoding(pad).to(level_embed.dtype).permute(0, 1, 3, 4, 2).reshape(n, t, h * w, c)
            codes.append(code + level_embed[lvl])
            start += h * w
        return torch.cat(codes, 2).flatten(1, 2)

    def decode(self, enc: Dict[str, Optional[Tensor]], num_frames: int, with_masks: bool = True,
               with_intermediates: bool = False, groups: int = 1) -> Dict[str, object]:
        """Per-clip part: DETR decoder on the multi-scale memory, class/box branches and mask head.

        Args:
            enc: :meth:`encode` of N*T frames, video-major. num_frames: T (must be ``self.num_frames``).
            with_masks: run the mask head. groups: query groups G (training only, see ``num_query_groups``).

        Returns:
            dict: ``memory`` (N, T*S, C), ``pos`` (N, T*S, C), ``key_padding_mask`` (N, T*S) or None, ``hs``
            (num_layers, N*G, Q, C), ``logits`` (num_layers, N*G, Q, num_classes + 2), ``boxes`` (num_layers, N*G,
            Q, 4) normalized cxcywh, and with ``with_masks`` ``masks`` (N*G, Q, H4, W4) mask logits of the last
            layer (plus the :meth:`clip_masks` intermediates); Q = T * queries_per_frame, frame-major.
        """
        f, s, c = enc['memory'].shape
        if f % num_frames:
            raise ValueError(f'{f} encoded frames are not a whole number of {num_frames}-frame clips')
        if num_frames != self.num_frames:
            raise ValueError(f'{type(self).__name__} decodes clips of num_frames={self.num_frames} frames, got '
                             f'{num_frames} (tile shorter clips; split longer videos into windows)')
        n = f // num_frames
        memory = enc['memory'].reshape(n, num_frames * s, c)
        key_padding_mask = None if enc['memory_mask'] is None else enc['memory_mask'].reshape(n, num_frames * s)
        pos = self.memory_positions(enc['level_shapes'][0], enc['memory_mask'], n, num_frames)
        hs = self.decode_queries(memory, pos, key_padding_mask, groups)
        out = dict(memory=memory, pos=pos, key_padding_mask=key_padding_mask, hs=hs)
        out['logits'], out['boxes'] = self.track_head(hs)
        if with_masks:
            out['masks'], extra = self.clip_masks(hs[-1], self.mask_memory(enc, out), enc, num_frames,
                                                  with_intermediates)
            out.update(extra)
        return out

    def mask_memory(self, enc: Dict[str, Optional[Tensor]], dec: Dict[str, Tensor]) -> Tensor:
        """The mask head reads the (t, y, x) tokens of one level, as VisTR's memory: (N, T*h*w, C)."""
        n = dec['memory'].shape[0]
        return enc['src'].permute(0, 2, 3, 1).reshape(n, -1, enc['src'].shape[1])

    def benchmark_stages(self) -> Dict[str, List[Tuple[object, str]]]:
        return dict(backbone=[(self.backbone, 'forward')], neck=[(self.neck, 'forward')],
                    encoder=[(self.encoder, 'forward')],
                    decoder=[(self, 'memory_positions'), (self.decoder, 'forward'), (self.track_head, 'forward')],
                    mask_head=[(self, 'clip_masks')], postprocess=[(VisTRClip, 'resize')])
