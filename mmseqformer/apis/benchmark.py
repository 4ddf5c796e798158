"""Inference and training benchmarks of any VIS config on generated clips (used by the benchmark tool).

Stages are the model's own (:meth:`BaseVISModel.benchmark_stages`): the benchmark wraps the methods each stage
names and times the production path (:func:`iter_video_results`) plus the RLE encoding of every frame's masks
(``postprocess``).
"""
import contextlib
import os
import platform
import statistics
import tempfile
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_util

from ..utils.stage_profiler import StageProfiler, matmul_gflops, median_stages, peak_memory_mb
from .inference import init_model, iter_video_results

OUTPUT_STAGE = 'postprocess'  # the benchmark's own stage: masks to RLE, as a results json needs them


def iter_frames(num_frames: int, hw: Tuple[int, int], seed: int = 0) -> Iterator[np.ndarray]:
    """``num_frames`` (H, W, 3) uint8 BGR frames, one at a time: three shapes moving over a gradient with noise."""
    rng = np.random.default_rng(seed)
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([96 + 64 * xx / w, 96 + 64 * yy / h, 128 + 0 * xx], -1)
    starts = rng.uniform(0.2, 0.8, (3, 2)) * (w, h)
    speeds = rng.uniform(-2, 2, (3, 2)) * (min(h, w) / 360)
    colors = rng.integers(0, 256, (3, 3))
    radius = max(4, min(h, w) // 8)
    for t in range(num_frames):
        frame = (base + rng.normal(0, 6, base.shape)).clip(0, 255).astype(np.uint8)
        for k in range(3):
            cx, cy = (starts[k] + speeds[k] * t) % (w, h)
            center = (int(cx), int(cy))
            if k == 1:
                cv2.rectangle(frame, (center[0] - radius, center[1] - radius), (center[0] + radius, center[1] + radius),
                              colors[k].tolist(), -1)
            else:
                cv2.circle(frame, center, radius, colors[k].tolist(), -1)
        yield frame


def make_frames(num_frames: int, hw: Tuple[int, int], seed: int = 0) -> List[np.ndarray]:
    """The frames of :func:`iter_frames` as a list."""
    return list(iter_frames(num_frames, hw, seed))


def write_frames(folder: str, num_frames: int, hw: Tuple[int, int], seed: int = 0) -> List[str]:
    """Write the frames of :func:`iter_frames` to ``folder`` as JPEG files (as a user's frame folder); their paths.

    The benchmark reads them back lazily, as the demo reads a video, so that the clip itself takes no memory and the
    peak memory of a long video is the model's.
    """
    paths = []
    for t, frame in enumerate(iter_frames(num_frames, hw, seed)):
        paths.append(os.path.join(folder, f'{t:05d}.jpg'))
        cv2.imwrite(paths[-1], frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return paths


def build(config: str, checkpoint: Optional[str], device: str, train: bool = False,
          cfg_options: Optional[dict] = None, backend: str = 'pytorch') -> torch.nn.Module:
    model = init_model(config, checkpoint, device=device, cfg_options=cfg_options, backend=backend)
    return model.train() if train else model


def stage_names(model) -> Tuple[str, ...]:
    """The model's stages in pipeline order, then the output stage."""
    names = tuple(model.benchmark_stages())
    return names if OUTPUT_STAGE in names else (*names, OUTPUT_STAGE)


def _wrap_stages(prof: StageProfiler, model) -> None:
    for stage, calls in model.benchmark_stages().items():
        for owner, attr in calls:
            prof.wrap(owner, attr, stage)


def _autocast(device: str, amp: bool):
    if not amp:
        return contextlib.nullcontext()
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.float16 if kind == 'cuda' else torch.bfloat16)


def _infer_once(model, frames, chunk_size: int, prof: StageProfiler, amp: bool, device: str) -> int:
    """The production inference path plus per-frame RLE; returns the number of RLEs written."""
    count = 0
    with torch.no_grad(), _autocast(device, amp):
        for sample in iter_video_results(model, frames, chunk_size=chunk_size):
            with prof.stage(OUTPUT_STAGE):
                masks = sample.pred_track_instances.masks.cpu().numpy()
                rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
                count += len(rles)
    return count


def _environment(device: str, amp: bool) -> dict:
    import mmcv
    dtype = ('float16' if torch.device(device).type == 'cuda' else 'bfloat16') if amp else 'float32'
    info = dict(device=device, threads=torch.get_num_threads(), dtype=dtype, torch=torch.__version__,
                mmcv=mmcv.__version__, cpu=platform.processor() or platform.machine())
    if torch.device(device).type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
    return info


def msda_kernel_counts(model, frames, chunk_size: int, device: str) -> Dict[str, int]:
    """How many multi-scale deformable attention calls went to mmcv's compiled kernel vs. its PyTorch path."""
    from mmcv.ops import multi_scale_deform_attn as mmcv_msda

    from ..models.layers import seqformer_msda
    counts = {'cuda_kernel': 0, 'pytorch': 0}
    fn_cls = mmcv_msda.MultiScaleDeformableAttnFunction
    orig_apply, orig_py = fn_cls.apply, mmcv_msda.multi_scale_deformable_attn_pytorch

    def apply(*a, **k):
        counts['cuda_kernel'] += 1
        return orig_apply(*a, **k)

    def pytorch_path(*a, **k):
        counts['pytorch'] += 1
        return orig_py(*a, **k)

    fn_cls.apply = apply
    mmcv_msda.multi_scale_deformable_attn_pytorch = seqformer_msda.multi_scale_deformable_attn_cpu = pytorch_path
    try:
        _infer_once(model, frames[:chunk_size], chunk_size, StageProfiler(device), False, device)
    finally:
        fn_cls.apply = orig_apply
        mmcv_msda.multi_scale_deformable_attn_pytorch = seqformer_msda.multi_scale_deformable_attn_cpu = orig_py
    return counts


def benchmark_inference(config: str, checkpoint: Optional[str], frames: int, hw: Tuple[int, int], device: str = 'cpu',
                        repeat: int = 3, warmup: int = 1, chunk_size: int = 8, flops_frames: int = 16,
                        amp: bool = False, cfg_options: Optional[dict] = None, backends: Sequence[str] = ('pytorch',),
                        deploy_dir: Optional[str] = None, **_) -> dict:
    """Seconds, FLOPs and efficiency per stage and end to end, and peak memory, of inference on one clip.

    Args:
        frames: clip length T. hw: (H, W) of the generated frames.
        backends: ``pytorch`` (``checkpoint``) and/or runtimes of the exported ``deploy_dir``: all are built in
            one process and timed on the same frames, their repeats interleaved so that machine drift hits all.

    Returns:
        dict with the keys documented in ``tools/analysis_tools/benchmark.py`` (seconds per frame); with several
        backends ``backends`` (name -> that dict) and ``ratio_to_pytorch`` (seconds per frame over PyTorch's).
    """
    with tempfile.TemporaryDirectory(prefix='mmseqformer_bench_') as folder:
        clip = write_frames(folder, frames, hw)
        models = {b: build(config, checkpoint if b == 'pytorch' else deploy_dir, device, cfg_options=cfg_options,
                           backend=b) for b in backends}
        results = _benchmark_models(models, clip, hw, device, repeat, warmup, chunk_size, flops_frames, amp)
    if len(results) == 1:
        return results[backends[0]]
    ratios = {b: r['sec_per_frame'] / results['pytorch']['sec_per_frame'] for b, r in results.items()} \
        if 'pytorch' in results else None
    first = results[backends[0]]
    return dict(mode='inference', side_by_side=True, frames=first['frames'], input_hw=first['input_hw'],
                device=device, threads=first['threads'], dtype=first['dtype'], backends=results,
                ratio_to_pytorch=ratios)


def _benchmark_models(models: Dict[str, torch.nn.Module], clip: List[str], hw: Tuple[int, int], device: str,
                      repeat: int, warmup: int, chunk_size: int, flops_frames: int, amp: bool) -> Dict[str, dict]:
    frames = len(clip)
    profs = {b: StageProfiler(device) for b in models}
    for b, model in models.items():
        _wrap_stages(profs[b], model)
    n_flop = min(frames, flops_frames)
    try:
        stage_gflops = {}
        for b, model in models.items():
            with profs[b].count_flops():  # a separate pass: the counter slows the ops it counts
                _infer_once(model, clip[:flops_frames], chunk_size, profs[b], amp, device)
            stage_gflops[b] = {k: v / n_flop / 1e9 for k, v in profs[b].flops.items()}
        for _ in range(warmup):
            for b, model in models.items():
                _infer_once(model, clip, chunk_size, profs[b], amp, device)
        totals, runs, peaks = ({b: [] for b in models} for _ in range(3))
        for _ in range(repeat):
            for b, model in models.items():  # interleaved
                prof = profs[b]
                prof.reset()
                start = time.perf_counter()
                _infer_once(model, clip, chunk_size, prof, amp, device)
                prof.sync()
                totals[b].append(time.perf_counter() - start)
                runs[b].append(dict(prof.seconds))
                peaks[b] = dict(prof.peak_mb)
    finally:
        for prof in profs.values():
            prof.restore()
    # exported graphs run outside torch, whose FLOP counter cannot see them: they do PyTorch's arithmetic
    network_gflops = sum(stage_gflops.get('pytorch', {}).values()) or None
    return {b: _summary(model, profs[b], clip, hw, device, amp, chunk_size, statistics.median(totals[b]),
                        median_stages(runs[b]), stage_gflops[b] if b == 'pytorch' or not network_gflops else
                        dict(network=network_gflops), n_flop, peaks[b], repeat, warmup)
            for b, model in models.items()}


def _summary(model, prof: StageProfiler, clip: List[str], hw: Tuple[int, int], device: str, amp: bool,
             chunk_size: int, total: float, stage_seconds: Dict[str, float], stage_gflops: Dict[str, float],
             n_flop: int, peaks: dict, repeat: int, warmup: int) -> dict:
    frames = len(clip)
    names = stage_names(model)
    stages = {k: v / frames for k, v in stage_seconds.items()}
    stages = {name: stages.get(name, 0.0) for name in names}
    stages['other'] = max(0.0, total / frames - sum(stages.values()))
    sec_per_frame = total / frames
    gflops = sum(stage_gflops.values())
    mm = matmul_gflops(device, torch.bfloat16 if amp and torch.device(device).type == 'cpu' else
                       torch.float16 if amp else torch.float32)
    stage_eff = {name: (stage_gflops.get(name, 0.0) / stages[name] / mm if stages[name] > 0 else None)
                 for name in (*names, 'other')}
    busy = [n for n in names if stages[n] >= 0.05 * sec_per_frame and stage_gflops.get(n, 0.0) > 0]
    result = dict(mode='inference', model=type(model).__name__, backend=getattr(model, 'backend', 'pytorch'),
                  **_environment(device, amp), frames=frames,
                  short_side=min(hw), input_hw=list(hw), test_cfg=_plain(model.video_test_cfg),
                  chunk_size=chunk_size, repeat=repeat, warmup=warmup, sec_per_frame=sec_per_frame,
                  fps=1.0 / sec_per_frame, seconds_total=total, stages=stages,
                  stage_share={k: v / sec_per_frame for k, v in stages.items()},
                  gflops_per_frame=gflops, stage_gflops_per_frame={n: stage_gflops.get(n, 0.0) for n in names},
                  flops_frames=n_flop, matmul_gflops=mm, efficiency=gflops / sec_per_frame / mm,
                  stage_efficiency=stage_eff, furthest_stage=min(busy, key=lambda n: stage_eff[n]) if busy else None,
                  stage_peak_mem_mb={n: peaks.get(n) for n in names}, peak_mem_mb=prof.memory.overall_mb())
    if torch.device(device).type == 'cuda' and _uses_msda(model):
        result['msda_calls'] = msda_kernel_counts(model, clip, chunk_size, device)
    return result


def _uses_msda(model) -> bool:
    from mmcv.ops import MultiScaleDeformableAttention
    return any(isinstance(m, MultiScaleDeformableAttention) for m in model.modules())


def _plain(cfg: dict) -> dict:
    """``test_cfg`` as JSON-ready values."""
    return {k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v) for k, v in dict(cfg).items()}


def make_train_batch(num_frames: int, hw: Tuple[int, int], batch_size: int, num_classes: int,
                     clip_meta: Optional[dict] = None) -> dict:
    """A ``train_step`` batch of ``batch_size`` clips with three tracked instances each (masks, boxes, ids);
    ``clip_meta``: the model's clip-level meta information (``training_clip_meta``), e.g. key / reference frames."""
    from mmdet.structures import DetDataSample, TrackDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    h, w = hw
    inputs, samples = [], []
    for b in range(batch_size):
        frames = make_frames(num_frames, hw, seed=b)
        inputs.append(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous())
        track = TrackDataSample()
        per_frame = []
        for t in range(num_frames):
            masks = np.zeros((3, h, w), np.uint8)
            for k in range(3):  # a box per instance, drifting like the shapes do
                x0, y0 = (w // 6) * (k + 1) + 2 * t, h // 4 + 3 * t
                masks[k, y0:y0 + h // 4, x0:x0 + w // 6] = 1
            boxes = [[m.any(0).argmax(), m.any(1).argmax(), w - m.any(0)[::-1].argmax(), h - m.any(1)[::-1].argmax()]
                     for m in masks]
            frame = DetDataSample(metainfo=dict(img_shape=hw, ori_shape=hw, frame_id=t, video_length=num_frames,
                                                ori_video_length=num_frames, scale_factor=(1.0, 1.0)))
            frame.gt_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                              labels=torch.arange(3) % num_classes,
                                              masks=BitmapMasks(masks, h, w), instances_ids=torch.arange(1, 4))
            per_frame.append(frame)
        track.video_data_samples = per_frame
        track.set_metainfo(dict(clip_meta or {}))
        samples.append(track)
    return dict(inputs=inputs, data_samples=samples)


def benchmark_train(config: str, checkpoint: Optional[str], frames: int, hw: Tuple[int, int], device: str = 'cpu',
                    repeat: int = 3, warmup: int = 1, batch_size: int = 1, amp: bool = False,
                    cfg_options: Optional[dict] = None, **_) -> dict:
    """Seconds per training iteration (forward, losses, backward, optimizer step) and peak memory."""
    from mmengine.optim import build_optim_wrapper
    model = build(config, checkpoint, device, train=True, cfg_options=cfg_options)
    clip_meta = model.training_clip_meta(frames)
    optim_cfg = dict(model.cfg.optim_wrapper)
    if amp:
        from ..engine import use_mixed_precision
        use_mixed_precision(optim_cfg, torch.device(device).type)
    optim = build_optim_wrapper(model, optim_cfg)
    data = make_train_batch(frames, hw, batch_size, len(model.dataset_meta.get('classes') or ()) or model.num_classes,
                            clip_meta)
    sync = StageProfiler(device).sync
    times = []
    for i in range(warmup + repeat):
        start = time.perf_counter()
        model.train_step(data, optim)
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return dict(mode='train', model=type(model).__name__, **_environment(device, amp), frames=frames,
                short_side=min(hw), input_hw=list(hw),
                batch_size=batch_size, repeat=repeat, warmup=warmup, sec_per_iter=statistics.median(times),
                peak_mem_mb=peak_memory_mb(device))
