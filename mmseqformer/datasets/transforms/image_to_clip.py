"""Turn one annotated image into a pseudo video (SeqFormer's COCO joint training)."""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import avoid_cache_randomness
from mmdet.registry import TRANSFORMS
from mmdet.structures.mask import BitmapMasks

from ...utils import register_deprecated_alias

# keys holding per-instance annotations; everything else is frame metadata copied to each frame
_ANN_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_masks', 'gt_instances_ids', 'gt_ignore_flags')
# per-frame keys this transform sets itself
_SET_KEYS = ('img', 'img_shape', 'frame_id', 'video_length', 'ori_video_length', 'key_frame_flags')


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight boxes of binary masks.

    Args:
        masks: ``(N, H, W)`` masks (any dtype; non-zero is foreground).

    Returns:
        ``(N, 4)`` float32 ``x1, y1, x2, y2`` in pixel-edge coordinates (a one-pixel mask at ``(x, y)`` gives
        ``(x, y, x + 1, y + 1)``, as pycocotools' ``toBbox``); zeros for an empty mask.
    """
    boxes = np.zeros((len(masks), 4), np.float32)
    for i, mask in enumerate(masks):
        cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
        if len(cols):
            boxes[i] = cols[0], rows[0], cols[-1] + 1, rows[-1] + 1
    return boxes


def warp_frame(img: np.ndarray, masks: np.ndarray, matrix: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Warp an image (bilinear) and its masks (nearest) by a homography, keeping the size; the border is 0.

    Args:
        img: ``(H, W, C)`` image.
        masks: ``(N, H, W)`` uint8 masks.
        matrix: ``(3, 3)`` homography mapping input pixel coordinates to output ones.

    Returns:
        the warped ``(H, W, C)`` image and ``(N, H, W)`` uint8 masks.
    """
    h, w = img.shape[:2]
    out = cv2.warpPerspective(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)
    warped = np.zeros_like(masks)
    for i, mask in enumerate(masks):
        warped[i] = cv2.warpPerspective(mask, matrix, (w, h), flags=cv2.INTER_NEAREST,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(img.shape), warped


@avoid_cache_randomness
@TRANSFORMS.register_module()
class ImageToClip(BaseTransform):
    """Make a ``T``-frame pseudo video from one image and its instance masks.

    As the official COCO joint training (``ImageToSeqAugmenter``): the original frame plus ``T - 1`` copies,
    each drawn independently with
    * a colour change with 1 or 2 of: brightness ``+U(-brightness_delta, brightness_delta)``, hue and
      saturation ``+U(-hue_delta, hue_delta)`` (OpenCV 8-bit HSV units),
    * a perspective change: each image corner moved inwards by ``|N(0, perspective_scale)|`` of the image
      size and the quadrilateral stretched back to the full frame,
    * an affine warp: rotation ``U(-max_rotation, max_rotation)`` degrees about the centre, translation
      ``U(-max_translation, max_translation)`` of the width/height, no scaling,
    * with probability ``motion_blur_prob`` a motion blur of a random kernel size and direction.
    Masks are warped with the same homography (nearest neighbour) and boxes are recomputed from them in
    every frame (the original's too). An instance whose mask is empty in a frame is absent from that frame
    (ids keep identity across frames). Frames are shuffled (``shuffle=True``), as in the official code.

    Input: one frame after ``LoadImageFromFile`` + ``LoadTrackAnnotations(with_mask=True)``, either a plain
    dict or a dict of one-element lists (the output of ``BaseFrameSample`` + a broadcast loader):
    ``img`` ``(H, W, 3)`` uint8, ``gt_masks`` ``BitmapMasks`` ``(N, H, W)``, ``gt_bboxes`` ``(N, 4)``,
    ``gt_bboxes_labels``, ``gt_instances_ids``, ``gt_ignore_flags`` ``(N,)``.
    Output: dict of ``T``-element lists in the format of ``LocalGlobalFrameSample`` followed by the loaders:
    per frame ``img``, ``img_shape``, ``gt_*`` (``(N_t, ...)``, only the instances present),
    ``frame_id`` (position in the clip), ``video_length``/``ori_video_length`` ``= T``, the other metadata
    copied; plus ``key_frame_flags`` marking the original image.

    Randomness comes from numpy's global generator (seeded by mmengine).
    """

    def __init__(self, num_frames: int = 5, max_rotation: float = 20., max_translation: float = 0.1,
                 perspective_scale: float = 0.08, brightness_delta: float = 40., hue_delta: float = 5.,
                 color_jitter: bool = True, motion_blur_prob: float = 0.25,
                 motion_blur_kernels: Sequence[int] = (9, 11), shuffle: bool = True) -> None:
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        self.num_frames = num_frames
        self.max_rotation = max_rotation
        self.max_translation = max_translation
        self.perspective_scale = perspective_scale
        self.brightness_delta = brightness_delta
        self.hue_delta = hue_delta
        self.color_jitter = color_jitter
        self.motion_blur_prob = motion_blur_prob
        self.motion_blur_kernels = tuple(motion_blur_kernels)
        self.shuffle = shuffle

    def sample_homography(self, height: int, width: int) -> np.ndarray:
        """A random ``(3, 3)`` homography: perspective change, then rotation and translation."""
        corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        jitter = np.abs(np.random.normal(0, self.perspective_scale, (4, 2))) * [width, height]
        inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32)
        perspective = cv2.getPerspectiveTransform((corners + inward * jitter).astype(np.float32), corners)
        angle = np.random.uniform(-self.max_rotation, self.max_rotation)
        affine = np.eye(3)
        affine[:2] = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        affine[:2, 2] += np.random.uniform(-self.max_translation, self.max_translation, 2) * [width, height]
        return affine @ perspective

    def jitter_color(self, img: np.ndarray) -> np.ndarray:
        """1 or 2 of {brightness shift, hue + saturation shift} on a BGR uint8 image ``(H, W, 3)``."""
        ops = np.random.permutation(2)[:np.random.randint(1, 3)]
        out = img.astype(np.float32)
        if 0 in ops:
            out = out + np.random.uniform(-self.brightness_delta, self.brightness_delta)
        out = np.clip(out, 0, 255).astype(np.uint8)
        if 1 in ops:
            hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV).astype(np.float32)
            delta = np.random.uniform(-self.hue_delta, self.hue_delta)
            hsv[..., 0] = np.mod(hsv[..., 0] + delta, 180)  # OpenCV's 8-bit hue wraps at 180
            hsv[..., 1] = np.clip(hsv[..., 1] + delta, 0, 255)
            out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
        return out

    def motion_blur(self, img: np.ndarray) -> np.ndarray:
        """Blur along a random direction with a line kernel of a random size from ``motion_blur_kernels``."""
        k = int(self.motion_blur_kernels[np.random.randint(len(self.motion_blur_kernels))])
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1
        rotation = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), np.random.uniform(0, 360), 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (k, k))
        return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))

    def make_frame(self, img: np.ndarray, masks: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """One augmented copy: ``(H, W, 3)`` image and ``(N, H, W)`` uint8 masks."""
        if self.color_jitter:
            img = self.jitter_color(img)
        img, masks = warp_frame(img, masks, self.sample_homography(*img.shape[:2]))
        if np.random.rand() < self.motion_blur_prob:
            img = self.motion_blur(img)
        return img, masks

    @staticmethod
    def _single_frame(results: Dict[str, Any]) -> Dict[str, Any]:
        if not isinstance(results['img'], (list, tuple)):
            return results
        if len(results['img']) != 1:
            raise ValueError(f'ImageToClip needs one frame, got {len(results["img"])}')
        return {key: value[0] for key, value in results.items()}

    def transform(self, results: Dict[str, Any]) -> Dict[str, List]:
        frame = self._single_frame(results)
        img = frame['img']
        masks = frame['gt_masks'].to_ndarray().astype(np.uint8)
        ids = np.asarray(frame['gt_instances_ids'])
        labels = np.asarray(frame['gt_bboxes_labels'])
        ignores = np.asarray(frame.get('gt_ignore_flags', np.zeros(len(ids), bool)))
        frames = [(img, masks)] + [self.make_frame(img, masks) for _ in range(self.num_frames - 1)]
        order = np.random.permutation(self.num_frames) if self.shuffle else np.arange(self.num_frames)

        meta = {k: v for k, v in frame.items() if k not in _ANN_KEYS and k not in _SET_KEYS}
        out: Dict[str, List] = {key: [] for key in (*meta, *_SET_KEYS, *_ANN_KEYS)}
        for position, src in enumerate(order):
            frame_img, frame_masks = frames[src]
            keep = frame_masks.any(axis=(1, 2))
            for key, value in meta.items():
                out[key].append(copy.deepcopy(value))
            out['frame_id'].append(position)
            out['img'].append(frame_img)
            out['img_shape'].append(frame_img.shape[:2])
            out['gt_masks'].append(BitmapMasks(frame_masks[keep], *frame_img.shape[:2]))
            out['gt_bboxes'].append(masks_to_boxes(frame_masks[keep]))
            out['gt_bboxes_labels'].append(labels[keep])
            out['gt_instances_ids'].append(ids[keep])
            out['gt_ignore_flags'].append(ignores[keep])
            out['key_frame_flags'].append(bool(src == 0))
        for key in ('video_length', 'ori_video_length'):
            out[key] = [self.num_frames] * self.num_frames
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_frames={self.num_frames}, max_rotation={self.max_rotation}, '
                f'max_translation={self.max_translation}, perspective_scale={self.perspective_scale}, '
                f'color_jitter={self.color_jitter}, motion_blur_prob={self.motion_blur_prob}, '
                f'shuffle={self.shuffle})')


SeqFormerImageToClip = register_deprecated_alias(TRANSFORMS, ImageToClip, 'SeqFormerImageToClip')
