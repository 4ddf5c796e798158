"""VisTR video instance segmentation model (Wang et al., CVPR 2021)."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import TrackSampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor, nn

from .offline_clip_model import OfflineClipVISModel
from .vistr_clip import VisTRClip, select_slots


def _with_type(cfg: ConfigType, default_type: str) -> dict:
    cfg = dict(cfg)
    cfg.setdefault('type', default_type)
    return cfg


@MODELS.register_module()
class VisTR(OfflineClipVISModel):
    """VisTR: a DETR over the tokens of a whole clip, with frame-major instance queries.

    The backbone runs on the frames as a batch; C5 is projected to ``embed_dims`` and its T*h*w tokens
    (frame-major: t, y, x) go through a post-norm DETR encoder and decoder with ``num_frames *
    queries_per_frame`` learned queries, query ``q = t * P + j`` predicting slot j in frame t (slot j over all
    frames is one instance sequence). Class logits follow the official label convention (see ``VisTRHead``);
    the mask head (``VisTRMaskHead``) turns the last layer's queries, the memory and the raw C4..C2 of every
    frame into mask logits at stride 4.

    Args:
        backbone: returns C2..C5 (strides 4..32), e.g. a ResNet with ``out_indices=(0, 1, 2, 3)``.
        backbone_channels: channels of C2..C5; default from a ResNet's ``feat_dim`` (C5; C4..C2 halve it).
        positional_encoding: ``VisTRSinePositionalEncoding3D`` kwargs (``num_feats`` * 3 = ``embed_dims``).
        encoder, decoder: ``NoWeightsDetrTransformerEncoder`` / ``...Decoder`` kwargs (default types).
        mask_head: ``VisTRMaskHead`` config (``embed_dims`` and ``fpn_channels`` are filled in when absent).
        track_head: ``VisTRHead`` config (class/box branches and the losses).
        num_frames: clip length T the queries are made for (36). queries_per_frame: P (10).
        embed_dims: transformer width (384).
        num_query_groups: training-only groups of ``num_frames * queries_per_frame`` queries (Group DETR, Chen et
            al., ICCV 2023; 1 = the official model). In training each group is decoded on the shared encoder
            memory without attending to the other groups, and matched to the targets on its own, so every
            target sequence supervises ``num_query_groups`` slots per step; the losses are the mean over groups.
            Inference decodes the first group only.
    """

    # the backbone's C5 stride: smaller frames have no C5 cell
    min_input_side = 32

    def __init__(self, backbone: ConfigType, positional_encoding: ConfigType, encoder: ConfigType,
                 decoder: ConfigType, mask_head: ConfigType, track_head: ConfigType, num_frames: int = 36,
                 queries_per_frame: int = 10, embed_dims: int = 384, num_query_groups: int = 1,
                 backbone_channels: Optional[Tuple[int, int, int, int]] = None, data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None, test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        for name, value in (('num_frames', num_frames), ('queries_per_frame', queries_per_frame),
                            ('embed_dims', embed_dims), ('num_query_groups', num_query_groups)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'{name} must be an integer >= 1, got {value!r}')
        self.num_frames = num_frames
        self.queries_per_frame = queries_per_frame
        self.num_queries = num_frames * queries_per_frame
        self.embed_dims = embed_dims
        self.num_query_groups = num_query_groups
        self.backbone = MODELS.build(backbone)
        if backbone_channels is None:
            c5 = getattr(self.backbone, 'feat_dim', None)
            if c5 is None:
                raise ValueError(f'{type(self.backbone).__name__} has no feat_dim: give backbone_channels (C2..C5)')
            backbone_channels = (c5 // 8, c5 // 4, c5 // 2, c5)
        c2_channels, c3_channels, c4_channels, c5_channels = backbone_channels
        self.input_proj = nn.Conv2d(c5_channels, embed_dims, 1)
        self.positional_encoding = MODELS.build(_with_type(positional_encoding, 'VisTRSinePositionalEncoding3D'))
        self.encoder = MODELS.build(_with_type(encoder, 'NoWeightsDetrTransformerEncoder'))
        self.decoder = MODELS.build(_with_type(decoder, 'NoWeightsDetrTransformerDecoder'))
        self.query_embedding = nn.Embedding(self.num_queries * num_query_groups, embed_dims)
        mask_head = _with_type(mask_head, 'VisTRMaskHead')
        mask_head.setdefault('embed_dims', embed_dims)
        mask_head.setdefault('fpn_channels', (c4_channels, c3_channels, c2_channels))
        self.mask_head = MODELS.build(mask_head)
        track_head = dict(track_head)
        if train_cfg is not None:
            track_head.update(train_cfg=train_cfg)
        if test_cfg is not None:
            track_head.update(test_cfg=test_cfg)
        self.track_head = MODELS.build(track_head)
        self.num_classes = self.track_head.num_classes
        self._check_widths()
        self.check_test_cfg()

    def _check_widths(self) -> None:
        widths = dict(positional_encoding=3 * self.positional_encoding.num_feats, encoder=self.encoder.embed_dims,
                      decoder=self.decoder.embed_dims, track_head=self.track_head.embed_dims,
                      mask_head=self.mask_head.bbox_attention.q_linear.in_features)
        wrong = {k: v for k, v in widths.items() if v != self.embed_dims}
        if wrong:
            raise ValueError(f'embed_dims is {self.embed_dims} but these parts have another width: {wrong} '
                             '(the positional encoding gives 3 * num_feats channels)')

    def init_weights(self) -> None:
        """The official init: xavier_uniform on every matrix of the transformer, heads' own inits, and PyTorch's
        defaults elsewhere (query embedding N(0, 1), input projection, class and box layers)."""
        super().init_weights()
        for coder in (self.encoder, self.decoder):
            for p in coder.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

    @property
    def test_cfg(self) -> Optional[dict]:
        """The test rules, kept by the head."""
        return self.track_head.test_cfg

    # -- features ------------------------------------------------------------------------------

    def extract_feat(self, frames: Tensor) -> Tuple[Tensor, ...]:
        """(F, 3, H, W) -> backbone C2, C3, C4, C5, each (F, C_l, H_l, W_l)."""
        return self.backbone(frames)

    def encode(self, frames: Tensor, masks: Optional[Tensor] = None) -> Dict[str, Optional[Tensor]]:
        """Per-frame part of VisTR: backbone and input projection; every frame is independent of the others.

        Args:
            frames: (F, 3, H, W) normalized. masks: (F, H, W) True on padding, or None.

        Returns:
            dict: ``c2`` (F, 256, H4, W4), ``c3`` (F, 512, H8, W8), ``c4`` (F, 1024, H16, W16) (R50 widths),
            ``c5`` (F, 2048, h, w), ``src`` (F, embed_dims, h, w) the projected C5, ``mask_c5`` (F, h, w) bool
            or None.
        """
        c2, c3, c4, c5 = self.extract_feat(frames)
        mask_c5 = None
        if masks is not None:
            mask_c5 = F.interpolate(masks[None].float(), size=c5.shape[-2:]).to(torch.bool)[0]
        return dict(c2=c2, c3=c3, c4=c4, c5=c5, src=self.input_proj(c5), mask_c5=mask_c5)

    def transformer(self, src: Tensor, mask: Optional[Tensor] = None, groups: int = 1) -> Dict[str, Optional[Tensor]]:
        """Encoder and decoder on the frame-major tokens of N clips of ``num_frames`` frames.

        Args:
            src: (N, T, C, h, w) projected C5. mask: (N, T, h, w) True on padding, or None.
            groups: query groups G to decode (see ``num_query_groups``); group g of clip n is decoded as clip
                ``n * G + g`` on clip n's memory.

        Returns:
            dict: ``memory`` (N, T*h*w, C) and ``pos`` (N, T*h*w, C) in token order (t, y, x),
            ``key_padding_mask`` (N, T*h*w) or None, ``hs`` (num_layers, N*G, Q, C) every decoder layer after the
            final LayerNorm (Q = T * queries_per_frame, frame-major).
        """
        n, t, c, h, w = src.shape
        if t != self.num_frames:
            raise ValueError(f'VisTR decodes clips of num_frames={self.num_frames} frames, got {t} '
                             '(tile shorter clips; split longer videos into windows)')
        pad = mask if mask is not None else src.new_zeros((n, t, h, w), dtype=torch.bool)
        pos = self.positional_encoding(pad).to(src.dtype).permute(0, 1, 3, 4, 2).reshape(n, t * h * w, c)
        tokens = src.permute(0, 1, 3, 4, 2).reshape(n, t * h * w, c)
        key_padding_mask = None if mask is None else mask.flatten(1)
        memory = self.encoder(query=tokens, query_pos=pos, key_padding_mask=key_padding_mask)
        hs = self.decode_queries(memory, pos, key_padding_mask, groups)
        return dict(memory=memory, pos=pos, key_padding_mask=key_padding_mask, hs=hs)

    def decode_queries(self, memory: Tensor, pos: Tensor, key_padding_mask: Optional[Tensor],
                       groups: int = 1) -> Tensor:
        """The DETR decoder with G query groups on N clips' memory.

        Args:
            memory, pos: (N, S, C) tokens and their positions. key_padding_mask: (N, S) or None.
            groups: query groups G (see ``num_query_groups``); group g of clip n is decoded as clip ``n * G + g``
                on clip n's memory, without attending to the other groups.

        Returns:
            Tensor: hs (num_layers, N*G, Q, C).
        """
        n, c = memory.shape[0], memory.shape[-1]
        query_pos = self.query_embedding.weight[:self.num_queries * groups].view(1, groups, self.num_queries, c)
        query_pos = query_pos.expand(n, -1, -1, -1).flatten(0, 1)
        if groups > 1:
            memory, pos = memory.repeat_interleave(groups, 0), pos.repeat_interleave(groups, 0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.repeat_interleave(groups, 0)
        return self.decoder(query=torch.zeros_like(query_pos), key=memory, value=memory, query_pos=query_pos,
                            key_pos=pos, key_padding_mask=key_padding_mask)

    def mask_memory(self, enc: Dict[str, Optional[Tensor]], dec: Dict[str, Tensor]) -> Tensor:
        """The memory the mask head reads, (N, T*h*w, C) tokens (t, y, x): the encoder output."""
        return dec['memory']

    def clip_masks(self, hs_last: Tensor, memory: Tensor, enc: Dict[str, Optional[Tensor]], num_frames: int,
                   with_intermediates: bool = False,
                   slots: Optional[List[Tensor]] = None) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Mask logits of N clips, each decoded by G query groups.

        Args:
            hs_last: (N*G, Q, C) the last decoder layer. memory: (N, T*h*w, C) as :meth:`transformer` gives it.
            enc: :meth:`encode` of the N*T frames (video-major). num_frames: T.
            slots: per clip, the slots ``g * P + j`` to compute (the others' logits are left 0), or None for all.

        Returns:
            tuple: mask logits (N*G, Q, H4, W4) frame-major, and with ``with_intermediates`` a dict of
            ``frame_mask_features`` (N, T, G*P, 24, H4, W4) and ``bbox_attention`` (N, T, G*P, heads, h, w).
        """
        n, t, p = memory.shape[0], num_frames, self.queries_per_frame
        g = hs_last.shape[0] // n
        h, w = enc['src'].shape[-2:]
        # The mask head treats slots independently, so a clip's G groups go through it at once as G*P slots.
        queries = hs_last.view(n, g, t, p, -1).transpose(1, 2).flatten(2, 3)  # (N, T, G*P, C)
        masks, feats, attns = [], [], []
        for b in range(n):
            frames = slice(b * t, (b + 1) * t)
            mem = memory[b].view(t, h, w, -1).permute(0, 3, 1, 2)
            pad = None if enc['mask_c5'] is None else enc['mask_c5'][frames]
            chosen = queries[b] if slots is None else queries[b][:, slots[b]]
            if chosen.shape[1] == 0:  # a clip without targets: no slot to compute
                masks.append(hs_last.new_zeros((g, t * p, *enc['c2'].shape[-2:])))
                continue
            frame_feats, attn = self.mask_head.frames_features(
                chosen, mem, (enc['c4'][frames], enc['c3'][frames], enc['c2'][frames]), pad)
            clip = self.mask_head.instance_masks(frame_feats)  # (G*P or len(slots[b]), T, H4, W4)
            if slots is not None:
                clip = clip.new_zeros((g * p, *clip.shape[1:])).index_copy(0, slots[b], clip)
            masks.append(clip.view(g, p, t, *clip.shape[-2:]).transpose(1, 2).flatten(1, 2))
            if with_intermediates:
                feats.append(frame_feats)
                attns.append(attn)
        extra = dict(frame_mask_features=torch.stack(feats), bbox_attention=torch.stack(attns)) if feats else {}
        return torch.cat(masks), extra

    def decode(self, enc: Dict[str, Optional[Tensor]], num_frames: int, with_masks: bool = True,
               with_intermediates: bool = False, groups: int = 1) -> Dict[str, object]:
        """Per-clip part of VisTR: transformer, class/box branches and mask head on :meth:`encode` outputs.

        Args:
            enc: :meth:`encode` of N*T frames, video-major. num_frames: T (must be ``self.num_frames``).
            with_masks: run the mask head. groups: query groups G (training only, see ``num_query_groups``).

        Returns:
            dict: the :meth:`transformer` entries, ``logits`` (num_layers, N*G, Q, num_classes + 2) and ``boxes``
            (num_layers, N*G, Q, 4) normalized cxcywh of every decoder layer, ``masks`` (N*G, Q, H4, W4) mask
            logits of the last layer (with ``with_masks``) and the :meth:`clip_masks` intermediates; clip n's
            group g is entry ``n * G + g``.
        """
        f, c, h, w = enc['src'].shape
        if f % num_frames:
            raise ValueError(f'{f} encoded frames are not a whole number of {num_frames}-frame clips')
        n = f // num_frames
        mask = None if enc['mask_c5'] is None else enc['mask_c5'].view(n, num_frames, h, w)
        out = self.transformer(enc['src'].view(n, num_frames, c, h, w), mask, groups)
        out['logits'], out['boxes'] = self.track_head(out['hs'])
        if with_masks:
            out['masks'], extra = self.clip_masks(out['hs'][-1], self.mask_memory(enc, out), enc, num_frames,
                                                  with_intermediates)
            out.update(extra)
        return out

    # -- modes ---------------------------------------------------------------------------------

    def _forward(self, inputs: Tensor, data_samples: Optional[TrackSampleList] = None,
                 with_intermediates: bool = False, **kwargs) -> Dict[str, object]:
        """Raw outputs in the official layouts (tensor mode).

        Args:
            inputs: (N, T, 3, H, W) normalized clips of T = ``num_frames`` frames (padded where ``data_samples``
                say so).

        Returns:
            dict: ``pred_logits`` (N, Q, num_classes + 2), ``pred_boxes`` (N, Q, 4) of the last layer,
            ``pred_masks`` (N, Q, ceil(H/4), ceil(W/4)) mask logits, ``aux_outputs`` (a dict of ``pred_logits``
            and ``pred_boxes`` per earlier layer), frame-major queries (q = t * P + j); with
            ``with_intermediates`` also ``intermediates``: the :meth:`encode` and :meth:`decode` entries.
        """
        n, t = inputs.shape[:2]
        enc = self.encode(inputs.flatten(0, 1), self.padding_masks(inputs, data_samples))
        dec = self.decode(enc, t, with_intermediates=with_intermediates)
        logits, boxes = dec['logits'], dec['boxes']
        result = dict(pred_logits=logits[-1], pred_boxes=boxes[-1], pred_masks=dec['masks'],
                      aux_outputs=[dict(pred_logits=lg, pred_boxes=bx) for lg, bx in zip(logits[:-1], boxes[:-1])])
        if with_intermediates:
            result['intermediates'] = dict(enc, **dec)
        return result

    def loss(self, inputs: Tensor, data_samples: TrackSampleList, **kwargs) -> Dict[str, Tensor]:
        """Losses of a batch of clips; inputs (N, T, 3, H, W) with T = ``num_frames``.

        The mask head runs on the slots the last layer matches only (the matcher uses no masks, and the mask
        losses see only those slots), which gives the official losses at a fraction of the mask head's cost.
        With G query groups every group is matched and supervised as a clip of its own; the head normalises by
        all G copies of the targets, so the losses are the mean over groups.
        """
        n, t = inputs.shape[:2]
        g, p = self.num_query_groups, self.queries_per_frame
        enc = self.encode(inputs.flatten(0, 1), self.padding_masks(inputs, data_samples))
        dec = self.decode(enc, t, with_masks=False, groups=g)
        targets = [target for s in data_samples for target in [self.track_head.sequence_targets(s)] * g]
        matches = self.track_head.match(dec['logits'][-1].detach(), dec['boxes'][-1].detach(), targets)
        # slot g * P + j of clip n is matched when any of its frame queries q (j = q % P) of group entry n*G+g is
        slots = [torch.cat([k * p + queries % p for k, (queries, _) in enumerate(matches[b * g:(b + 1) * g])]).unique()
                 for b in range(n)]
        masks, _ = self.clip_masks(dec['hs'][-1], self.mask_memory(enc, dec), enc, t, slots=slots)
        return self.track_head.loss_by_targets(dec['logits'], dec['boxes'], masks, targets, last_matches=matches)

    # -- video interface ---------------------------------------------------------------------

    per_frame_keys = ('c2', 'c3', 'c4', 'src', 'mask_c5')
    decode_short_video_whole = True

    @property
    def video_test_cfg(self) -> dict:
        """``test_cfg`` with VisTR's window default: ``window_size`` = ``num_frames`` (a video longer than the clip
        the queries are made for goes in windows)."""
        cfg = dict(self.test_cfg or {})
        if cfg.get('window_size') is None:
            cfg['window_size'] = self.num_frames
        return cfg

    def checkpoint_mismatch(self, state: Dict[str, Tensor]) -> Optional[str]:
        """Why a state dict cannot be VisTR's with this clip length, or None: its query count."""
        queries = state.get('query_embedding.weight')
        need = self.num_queries * self.num_query_groups
        if queries is not None and queries.dim() == 2 and queries.shape[0] != need:
            names, values = 'num_frames x queries_per_frame', f'{self.num_frames} x {self.queries_per_frame}'
            if self.num_query_groups > 1:
                names, values = f'{names} x num_query_groups', f'{values} x {self.num_query_groups}'
            return (f'holds {queries.shape[0]} queries, but the model needs {names} = {values} = {need} (set '
                    'model.num_frames, model.queries_per_frame and model.num_query_groups to those the '
                    'checkpoint was trained with)')
        return None

    def check_test_cfg(self) -> None:
        """The base checks, and windows that fit the clip length the queries are made for."""
        super().check_test_cfg()
        size = self.video_test_cfg['window_size']
        if size > self.num_frames:
            raise ValueError(f'test_cfg.window_size must be at most num_frames={self.num_frames} (VisTR decodes at '
                             f'most num_frames frames at once), got {size!r}')

    def encode_frames(self, frames: Tensor, masks: Optional[Tensor] = None) -> dict:
        """:meth:`encode` entries the clip decoding needs: ``c2``, ``c3``, ``c4``, ``src`` (F, ...) and ``mask_c5``
        (F, h, w) or None."""
        enc = self.encode(frames, masks)
        return {k: enc[k] for k in self.per_frame_keys}

    def decode_clip(self, enc: dict, meta: dict) -> VisTRClip:
        """Decode the T <= ``num_frames`` frames of ``enc`` as one clip.

        As the official inference, a shorter clip is tiled cyclically to ``num_frames`` frames and the outputs are
        cut back to its T frames.
        """
        t, size, p = enc['src'].shape[0], self.num_frames, self.queries_per_frame
        if t > size:
            raise ValueError(f'VisTR decodes at most num_frames={size} frames at once, got {t}')
        if t < size:
            cycle = torch.arange(size, device=enc['src'].device) % t
            enc = {k: v[cycle] if k in self.per_frame_keys and v is not None else v for k, v in enc.items()}
        dec = self.decode(enc, size)
        logits = dec['logits'][-1, 0].view(size, p, -1)[:t]
        masks = dec['masks'][0].view(size, p, *dec['masks'].shape[-2:])[:t].transpose(0, 1)
        embeds = dec['hs'][-1, 0].view(size, p, -1)[:t].mean(0)
        return VisTRClip(logits, masks, embeds, meta, self.video_test_cfg.get('mask_thr', 0.5))

    def select_pairs(self, scores: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Every slot with a class once, by decreasing score (no threshold), at most ``max_per_video``."""
        return select_slots(scores, self.video_test_cfg.get('max_per_video', 10))

    def benchmark_stages(self) -> Dict[str, List[Tuple[object, str]]]:
        return dict(backbone=[(self.backbone, 'forward')], encoder=[(self.input_proj, 'forward'),
                                                                   (self.encoder, 'forward')],
                    decoder=[(self.decoder, 'forward'), (self.track_head, 'forward')],
                    mask_head=[(self, 'clip_masks')], postprocess=[(VisTRClip, 'resize')])
