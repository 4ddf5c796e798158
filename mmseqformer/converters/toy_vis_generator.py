"""Deterministic synthetic YouTube-VIS dataset ("toy_vis"): textured shapes that move, scale, rotate,
occlude each other and enter/leave the frame.

The classes (one per shape) are :data:`mmseqformer.datasets.toy_vis_dataset.TOY_VIS_CLASSES`.

Layout written under ``out``::

    {train,valid}/JPEGImages/<video>/<00000>.jpg
    annotations/toy_vis_{split}_ytvis.json   official YouTube-VIS 2019 layout
    annotations/toy_vis_{split}.json         CocoVID layout read by mmdet's YouTubeVISDataset
    annotations/toy_vis_{split}_meta.json    generation metadata (z-order, motion, unoccluded areas)

Images are BGR uint8 arrays of shape (H, W, 3); masks are bool arrays of shape (H, W).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ..datasets.toy_vis_dataset import TOY_VIS_CLASSES as CLASSES
from .ytvis_converter import convert_ytvis

GENERATOR_VERSION = '1.0'
SPLITS = ('train', 'valid')  # the index is the split id in the per-video seed
FRAME_SIZES = ((320, 192), (288, 224), (256, 256), (192, 320), (224, 288), (320, 240), (240, 320))  # (w, h)
MIN_LEN, MAX_LEN = 5, 40
MAX_INSTANCES = 4
MIN_BOX_SIDE = 16  # an instance is drawn in a frame only if its visible part is at least this big
MIN_AREA = 96
JPEG_QUALITY = 90
MAX_ATTEMPTS = 100
_PAN = 32  # background canvas margin used for a slow camera pan


def _regular(n: int, r: float, phase: float = 0.0) -> np.ndarray:
    a = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def _star(outer: float = 1.1, inner: float = 0.5) -> np.ndarray:
    a = -np.pi / 2 + np.pi * np.arange(10) / 5
    r = np.where(np.arange(10) % 2 == 0, outer, inner)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def _cross(a: float = 0.34) -> np.ndarray:
    return np.array([(a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a),
                     (-a, -a), (-a, -1)], dtype=np.float64)


# Outlines in unit coordinates (N, 2), one per class in the order of CLASSES, roughly equal areas so that size
# does not give the class away.
SHAPES = (_regular(48, 0.85), _regular(4, 1.06, np.pi / 4), _regular(3, 1.1, -np.pi / 2), _star(),
          _regular(6, 0.9), _cross())
_SHAPE_RADIUS = max(float(np.hypot(*s.T).max()) for s in SHAPES)


def _background(rng: np.random.Generator, cw: int, ch: int) -> np.ndarray:
    """Blend of smooth noise, a linear gradient and soft stripes: (ch, cw, 3) uint8."""
    yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
    cols = rng.uniform(40, 215, size=(5, 3)).astype(np.float32)
    g = int(rng.integers(2, 7))
    noise = cv2.resize(rng.random((g, g)).astype(np.float32), (cw, ch), interpolation=cv2.INTER_CUBIC)
    smooth = cols[0] + (cols[1] - cols[0]) * np.clip(noise, 0, 1)[..., None]
    ang = rng.uniform(0, 2 * np.pi)
    ramp = xx * np.cos(ang) + yy * np.sin(ang)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    gradient = cols[2] + (cols[3] - cols[2]) * ramp[..., None]
    ang, period = rng.uniform(0, np.pi), rng.uniform(10, 50)
    wave = np.tanh(3 * np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / period))
    stripes = smooth + (cols[4] - smooth) * (0.5 + 0.5 * wave)[..., None]
    w = rng.dirichlet([1.0, 1.0, 1.0]).astype(np.float32)
    bg = w[0] * smooth + w[1] * gradient + w[2] * stripes + rng.normal(0, 3, (ch, cw, 3)).astype(np.float32)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _object_colour(rng: np.random.Generator, bg_mean: np.ndarray) -> np.ndarray:
    """A saturated BGR colour far enough from the mean background colour to keep the outline visible."""
    best, best_d = None, -1.0
    for _ in range(20):
        hsv = np.array([[[rng.integers(0, 180), rng.integers(150, 256), rng.integers(150, 256)]]], np.uint8)
        col = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
        d = float(np.linalg.norm(col - bg_mean))
        if d > best_d:
            best, best_d = col, d
        if d >= 80:
            break
    return best


def _sample_instance(rng: np.random.Generator, w: int, h: int, length: int, motion: str,
                     bg_mean: np.ndarray) -> Dict[str, Any]:
    """Smooth per-frame trajectory (centre, circumradius, angle) and appearance of one instance."""
    t = np.arange(length) / (length - 1)
    short = min(w, h)
    s0 = rng.uniform(0.10, 0.22) * short
    s1 = s0 * np.exp(rng.uniform(-0.4, 0.4))
    scale = s0 * (s1 / s0) ** t * (1 + rng.uniform(0, 0.08) * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t
                                                                      + rng.uniform(0, 2 * np.pi)))
    angle = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.15, 0.15) * np.arange(length)
    r_max = float(scale.max()) * _SHAPE_RADIUS
    wiggle = rng.uniform(0, 0.04 * short)
    margin = r_max + wiggle + 1
    lo, hi = np.array([margin, margin]), np.array([w - margin, h - margin])
    hi = np.maximum(hi, lo)

    def inside() -> np.ndarray:
        return rng.uniform(lo, hi)

    def outside(side: int) -> np.ndarray:
        # just beyond one border so that the whole shape is out of view
        far = r_max + 2 + rng.uniform(0, 0.25 * short)
        p = inside()
        p[side % 2] = -far if side < 2 else (w, h)[side % 2] + far
        return p

    if motion == 'stay':
        p0 = inside()
        step, heading = rng.uniform(0.5, 5), rng.uniform(0, 2 * np.pi)
        p1 = np.clip(p0 + step * (length - 1) * np.array([np.cos(heading), np.sin(heading)]), lo, hi)
    elif motion == 'enter':
        p0, p1 = outside(int(rng.integers(4))), inside()
    elif motion == 'leave':
        p0, p1 = inside(), outside(int(rng.integers(4)))
    else:  # 'cross': enter through one border and leave through the opposite one
        side = int(rng.integers(4))
        p0, p1 = outside(side), outside((side + 2) % 4)
    direction = p1 - p0
    normal = np.array([-direction[1], direction[0]]) / max(float(np.linalg.norm(direction)), 1e-6)
    sway = wiggle * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * np.pi))
    centre = p0 + t[:, None] * direction + sway[:, None] * normal
    return dict(category=int(rng.integers(len(CLASSES))), motion=motion, centre=centre, scale=scale, angle=angle,
                colour=_object_colour(rng, bg_mean), pattern=int(rng.integers(5)), freq=rng.uniform(1.5, 4),
                light=rng.uniform(0, 2 * np.pi))


def _outline(inst: Dict[str, Any], t: int) -> np.ndarray:
    """Polygon of an instance at frame t in pixel coordinates: (N, 2) float (x, y)."""
    c, s = np.cos(inst['angle'][t]), np.sin(inst['angle'][t])
    rot = np.array([[c, -s], [s, c]])
    return SHAPES[inst['category']] @ rot.T * inst['scale'][t] + inst['centre'][t]


def _rasterise(poly: np.ndarray, w: int, h: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    # 4 fractional bits keep the motion smooth; no anti-aliasing so that the mask is exactly what is drawn
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _box(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    """Tight COCO box (x, y, w, h) of a (H, W) mask, None if empty."""
    cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
    if cols.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _big_enough(mask: np.ndarray) -> bool:
    box = _box(mask)
    return box is not None and min(box[2:]) >= MIN_BOX_SIDE and int(mask.sum()) >= MIN_AREA


def _paint(frame: np.ndarray, mask: np.ndarray, inst: Dict[str, Any], t: int) -> None:
    """Fill ``mask`` of ``frame`` with the instance colour, shaded and patterned in object coordinates so
    that the texture moves, scales and rotates with the shape."""
    x, y, bw, bh = _box(mask)
    yy, xx = np.mgrid[y:y + bh, x:x + bw].astype(np.float32)
    dx, dy = xx - inst['centre'][t][0], yy - inst['centre'][t][1]
    c, s = np.cos(inst['angle'][t]), np.sin(inst['angle'][t])
    u, v = (c * dx + s * dy) / inst['scale'][t], (-s * dx + c * dy) / inst['scale'][t]
    r2 = u * u + v * v
    shade = 0.85 - 0.25 * r2 + 0.15 * (u * np.cos(inst['light']) + v * np.sin(inst['light']))
    f = inst['freq'] * np.pi
    pattern = (np.zeros_like(u), 0.15 * np.sin(f * u), 0.12 * np.sign(np.sin(f * u) * np.sin(f * v)),
               0.2 * (np.cos(f * u) * np.cos(f * v) > 0.5), 0.14 * np.sin(f * np.sqrt(r2)))[inst['pattern']]
    tex = np.clip(inst['colour'] * np.clip(shade + pattern, 0.3, 1.25)[..., None], 0, 255).astype(np.uint8)
    crop, m = frame[y:y + bh, x:x + bw], mask[y:y + bh, x:x + bw]
    crop[m] = tex[m]


def render_video(seed: int, split_id: int, index: int) -> Dict[str, Any]:
    """Render one video; deterministic in (seed, split_id, index) only.

    Returns a dict with ``width``, ``height``, ``attempt`` (resampling round that met every constraint),
    ``frames`` and ``backgrounds`` (lists of (H, W, 3) uint8 BGR), and ``instances``: per instance a dict with
    ``category_id`` (1-based), ``z`` (larger is nearer the camera), ``motion``, ``full`` and ``visible``
    (per frame a (H, W) bool mask, or None where the instance is not drawn). ``full`` is the unoccluded
    in-frame mask; ``visible`` removes the pixels covered by instances drawn above it.
    """
    for attempt in range(MAX_ATTEMPTS):
        video = _try_render(np.random.default_rng([seed, split_id, index, attempt]))
        if video is not None:
            video['attempt'] = attempt
            return video
    raise RuntimeError(f'toy_vis: no valid video after {MAX_ATTEMPTS} attempts (seed {seed}, index {index})')


def _try_render(rng: np.random.Generator) -> Optional[Dict[str, Any]]:
    w, h = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    length = int(rng.integers(MIN_LEN, MAX_LEN + 1))
    num = int(rng.integers(1, MAX_INSTANCES + 1))
    canvas = _background(rng, w + _PAN, h + _PAN)
    bg_mean = canvas.reshape(-1, 3).mean(0)
    pan0, pan1 = rng.integers(0, _PAN + 1, 2), rng.integers(0, _PAN + 1, 2)
    # the first instance stays in view so that every frame shows something; the others may come and go
    motions = ['stay'] + [str(m) for m in rng.choice(['stay', 'enter', 'leave', 'cross'], num - 1,
                                                     p=[0.45, 0.2, 0.2, 0.15])]
    insts = [_sample_instance(rng, w, h, length, m, bg_mean) for m in motions]
    z_order = rng.permutation(num)
    top_first = np.argsort(-z_order, kind='stable')
    full: List[List[Optional[np.ndarray]]] = [[None] * length for _ in insts]
    visible: List[List[Optional[np.ndarray]]] = [[None] * length for _ in insts]
    frames, backgrounds = [], []
    for t in range(length):
        ox, oy = np.round(pan0 + (pan1 - pan0) * t / (length - 1)).astype(int)
        bg = canvas[oy:oy + h, ox:ox + w]
        frame = bg.copy()
        covered = np.zeros((h, w), bool)
        for i in top_first:
            m = _rasterise(_outline(insts[i], t), w, h)
            vis = m & ~covered
            # too small a visible part is not drawn at all, so no pixel is drawn without an annotation
            if _big_enough(vis):
                full[i][t], visible[i][t] = m, vis
                covered |= m
        for i in top_first[::-1]:  # painter's algorithm, far to near
            if full[i][t] is not None:
                _paint(frame, full[i][t], insts[i], t)
        frames.append(frame)
        backgrounds.append(np.ascontiguousarray(bg))
    shown = np.array([[m is not None for m in v] for v in visible])
    if not shown.any(0).all() or (shown.sum(1) < 2).any():
        return None  # a frame without any instance, or an instance seen in fewer than two frames
    instances = [dict(category_id=inst['category'] + 1, z=int(z_order[i]), motion=inst['motion'], full=full[i],
                      visible=visible[i]) for i, inst in enumerate(insts)]
    return dict(width=w, height=h, frames=frames, backgrounds=backgrounds, instances=instances)


def _encode(mask: np.ndarray) -> Dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {'size': [int(v) for v in rle['size']], 'counts': rle['counts'].decode('ascii')}


def _write_split(root: str, split: str, seed: int, num_videos: int) -> None:
    split_id = SPLITS.index(split)
    videos, annotations, meta = [], [], []
    for index in range(num_videos):
        vid = render_video(seed, split_id, index)
        name, length = f'{split}_{index:04d}', len(vid['frames'])
        frame_dir = osp.join(root, split, 'JPEGImages', name)
        os.makedirs(frame_dir)
        file_names = [f'{name}/{t:05d}.jpg' for t in range(length)]
        for t, frame in enumerate(vid['frames']):
            ok, buf = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError(f'JPEG encoding failed for {file_names[t]}')
            with open(osp.join(frame_dir, f'{t:05d}.jpg'), 'wb') as f:
                f.write(buf.tobytes())
        videos.append(dict(id=index + 1, width=vid['width'], height=vid['height'], length=length,
                           file_names=file_names))
        video_meta = dict(id=index + 1, name=name, seed=[seed, split_id, index, vid['attempt']], instances=[])
        for inst in vid['instances']:
            segs = [None if m is None else _encode(m) for m in inst['visible']]
            boxes = [None if r is None else [int(v) for v in mask_utils.toBbox(r)] for r in segs]
            areas = [None if r is None else int(mask_utils.area(r)) for r in segs]
            annotations.append(dict(id=len(annotations) + 1, video_id=index + 1, category_id=inst['category_id'],
                                    iscrowd=0, width=vid['width'], height=vid['height'], length=length,
                                    segmentations=segs, bboxes=boxes, areas=areas))
            video_meta['instances'].append(dict(
                annotation_id=len(annotations), z=inst['z'], motion=inst['motion'],
                amodal_areas=[None if m is None else int(m.sum()) for m in inst['full']]))
        meta.append(video_meta)
    info = dict(description='toy_vis: synthetic shapes in the YouTube-VIS 2019 format', version=GENERATOR_VERSION,
                year=2024, contributor='mmseqformer', date_created='', seed=seed, split=split)
    ytvis = dict(info=info, licenses=[], videos=videos, annotations=annotations,
                 categories=[dict(id=i + 1, name=n, supercategory='shape') for i, n in enumerate(CLASSES)])
    ann_dir = osp.join(root, 'annotations')
    _dump(ytvis, osp.join(ann_dir, f'toy_vis_{split}_ytvis.json'))
    _dump(convert_ytvis(ytvis, f'toy_vis_{split}_ytvis.json'), osp.join(ann_dir, f'toy_vis_{split}.json'))
    _dump(dict(info=info, videos=meta), osp.join(ann_dir, f'toy_vis_{split}_meta.json'))


def _dump(obj: Any, path: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, separators=(',', ':'))


def generate_toy_vis(out: str, seed: int = 0, num_train: int = 48, num_valid: int = 12,
                     overwrite: bool = False) -> str:
    """Write the toy_vis dataset to ``out`` (layout in the module docstring) and return its absolute path.

    Everything is written to a temporary sibling directory first and renamed into place, so ``out`` never
    holds a half-written dataset. An existing non-empty ``out`` is replaced only when ``overwrite`` is set.

    Raises:
        ValueError: bad seed or video counts.
        FileExistsError: ``out`` exists, is not empty (or not a directory) and ``overwrite`` is not set.
    """
    for key, value, low in (('seed', seed, 0), ('num_train', num_train, 1), ('num_valid', num_valid, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f'{key} must be an integer >= {low}, got {value!r}')
    out = osp.abspath(out)
    _check_target(out, overwrite)
    parent = osp.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out)}.tmp-', dir=parent)
    old = None
    try:
        os.makedirs(osp.join(tmp, 'annotations'))
        _write_split(tmp, 'train', int(seed), int(num_train))
        _write_split(tmp, 'valid', int(seed), int(num_valid))
        _check_target(out, overwrite)  # it may have appeared while generating
        if osp.isdir(out) and os.listdir(out):
            old = tempfile.mkdtemp(prefix=f'.{osp.basename(out)}.old-', dir=parent)
            os.rename(out, osp.join(old, 'data'))
        elif osp.isdir(out):
            os.rmdir(out)
        os.rename(tmp, out)
    except BaseException:
        if old is not None and not osp.exists(out) and osp.isdir(osp.join(old, 'data')):
            os.rename(osp.join(old, 'data'), out)  # put the previous dataset back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out


def _check_target(out: str, overwrite: bool) -> None:
    if osp.exists(out) and not osp.isdir(out):
        raise FileExistsError(f'{out} exists and is not a directory')
    if osp.isdir(out) and os.listdir(out) and not overwrite:
        raise FileExistsError(f'{out} exists and is not empty (pass --overwrite to replace it)')


def summarize(out_dir: str) -> Dict[str, Dict[str, Any]]:
    """Per split statistics of a generated dataset, computed from its json files.

    Keys per split: videos, frames, instances, classes (name -> instance count), length_min, length_max,
    landscape, portrait, square (video counts), occlusion_frac (videos where a drawn instance hides part of
    another; None without the meta file), absent_frac (videos where an instance is missing in some frame),
    min_box_side (smallest side of any annotated box).
    """
    summary = {}
    for split in SPLITS:
        path = osp.join(out_dir, 'annotations', f'toy_vis_{split}_ytvis.json')
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        names = {c['id']: c['name'] for c in data['categories']}
        videos, anns = data['videos'], data['annotations']
        lengths = [v['length'] for v in videos]
        meta_path = osp.join(out_dir, 'annotations', f'toy_vis_{split}_meta.json')
        occluded: Optional[set] = None
        if osp.exists(meta_path):
            with open(meta_path, encoding='utf-8') as f:
                amodal = {i['annotation_id']: i['amodal_areas'] for v in json.load(f)['videos'] for i in v['instances']}
            occluded = {a['video_id'] for a in anns
                        if any(v is not None and full > v for v, full in zip(a['areas'], amodal[a['id']]))}
        absent = {a['video_id'] for a in anns if any(s is None for s in a['segmentations'])}
        sides = [min(b[2:]) for a in anns for b in a['bboxes'] if b is not None]
        classes = {n: 0 for n in names.values()}
        for a in anns:
            classes[names[a['category_id']]] += 1
        summary[split] = dict(
            videos=len(videos), frames=sum(lengths), instances=len(anns), classes=classes,
            length_min=min(lengths, default=0), length_max=max(lengths, default=0),
            landscape=sum(v['width'] > v['height'] for v in videos),
            portrait=sum(v['width'] < v['height'] for v in videos),
            square=sum(v['width'] == v['height'] for v in videos),
            occlusion_frac=None if occluded is None else len(occluded) / max(len(videos), 1),
            absent_frac=len(absent) / max(len(videos), 1), min_box_side=min(sides, default=0))
    return summary


def format_summary(summary: Dict[str, Dict[str, Any]]) -> str:
    """Human-readable multi-line rendering of :func:`summarize`."""
    lines = []
    for split, s in summary.items():
        occ = 'n/a' if s['occlusion_frac'] is None else f"{100 * s['occlusion_frac']:.0f}%"
        lines += [f"[{split}] videos {s['videos']}, frames {s['frames']}, instances {s['instances']}, "
                  f"length {s['length_min']}..{s['length_max']}",
                  f"  sizes: landscape {s['landscape']}, portrait {s['portrait']}, square {s['square']}",
                  '  classes: ' + ', '.join(f'{k} {v}' for k, v in s['classes'].items()),
                  f"  videos with occlusion {occ}, with absent frames {100 * s['absent_frac']:.0f}%, "
                  f"min visible box side {s['min_box_side']}px"]
    return '\n'.join(lines)
