"""Export an offline clip model's graphs to ONNX, check them in a runtime, and write the folder atomically."""
import contextlib
import importlib
import inspect
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from typing import Dict, Iterator, List, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..models.vis import DeployGraph
from ..utils.file_digest import file_sha256
from .backends import BackendUnavailableError, GraphSet, import_backend
from .manifest import MANIFEST, network_cfg, model_fingerprint, write_manifest

OPSET = 18
# largest |runtime - PyTorch| per output: absolute for the outputs a result is made of (class logits, reference
# boxes, mask logits, which also need the same sign on nearly every pixel); intermediate tensors (memory, queries):
# DEFAULT_TOLERANCE relative to max(1, max |PyTorch|)
TOLERANCES = {'logits': 1e-3, 'reference': 1e-4, 'mask_logits': 5e-3}
DEFAULT_TOLERANCE = 2e-3
MIN_SIGN_AGREEMENT = 0.9999


class ExportError(RuntimeError):
    """The model cannot be exported, or its exported graphs do not reproduce it."""


def plain_values(cfg: dict) -> dict:
    """A test_cfg as JSON values (tuples as lists)."""
    return json.loads(json.dumps(dict(cfg), default=list))


def require_export_packages() -> None:
    """Raise :class:`BackendUnavailableError` (one line) unless ``onnx`` and ``onnxscript`` are installed."""
    for package in ('onnx', 'onnxscript'):
        try:
            importlib.import_module(package)
        except ImportError as e:
            raise BackendUnavailableError(f'exporting needs the package {package!r}: pip install -r '
                                          f'requirements/deploy.txt (or pip install .[deploy])') from e


def _dynamic_shapes(graph: DeployGraph) -> Dict[str, object]:
    """``torch.export`` dynamic shapes by forward parameter (a ``*args`` parameter takes the rest as a list)."""
    dims: Dict[str, object] = {}
    shapes = []
    for name in graph.inputs:
        axes = graph.dynamic_axes.get(name)
        shapes.append({axis: dims.setdefault(sym, torch.export.Dim(sym, min=1, max=1 << 16))
                       for axis, sym in axes.items()} if axes else None)
    by_param = {}
    for i, param in enumerate(inspect.signature(graph.module.forward).parameters.values()):
        if param.kind is param.VAR_POSITIONAL:
            by_param[param.name] = tuple(shapes[i:])
            break
        by_param[param.name] = shapes[i]
    return by_param


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Without the exporter's progress lines, warnings and log records (e.g. torchvision ops it skips)."""
    loggers = [logging.getLogger(name) for name in ('torch.onnx', 'torch.export', 'torch._dynamo', 'onnxscript',
                                                    'onnx_ir')]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _export_graph(graph: DeployGraph, args: Tuple[Tensor, ...], path: str) -> None:
    import onnx
    try:  # a failure is reported as one line
        with _quiet_exporter():
            torch.onnx.export(graph.module, args, path, dynamo=True, input_names=list(graph.inputs),
                              output_names=list(graph.outputs), dynamic_shapes=_dynamic_shapes(graph),
                              opset_version=OPSET, external_data=False, optimize=True, verbose=False)
    except Exception as e:
        first = ' '.join(str(e).split())[:300]
        raise ExportError(f'graph {graph.name!r} does not export: {type(e).__name__}: {first}') from e
    onnx.checker.check_model(path, full_check=True)


def _as_tuple(out) -> Tuple[Tensor, ...]:
    return out if isinstance(out, tuple) else (out,)


def compare_outputs(graph: str, names: Sequence[str], ref: Sequence[Tensor], got: Sequence[Tensor]) -> Dict[str, dict]:
    """Per output: max abs diff, its tolerance, and for mask logits the sign agreement; raises on a failure."""
    report = {}
    for name, r, g in zip(names, ref, got):
        if r.shape != g.shape:
            raise ExportError(f'graph {graph!r} output {name!r}: shape {tuple(g.shape)} != PyTorch {tuple(r.shape)}')
        diff = float((r - g).abs().max()) if r.numel() else 0.0
        if name in TOLERANCES:
            tol = TOLERANCES[name]
        else:
            tol = DEFAULT_TOLERANCE * (max(1.0, float(r.abs().max())) if r.numel() else 1.0)
        entry = dict(max_abs_diff=diff, tolerance=tol)
        if name == 'mask_logits':
            entry['sign_agreement'] = float(((r > 0) == (g > 0)).float().mean()) if r.numel() else 1.0
        report[name] = entry
        if diff > tol or entry.get('sign_agreement', 1.0) < MIN_SIGN_AGREEMENT:
            raise ExportError(f'graph {graph!r} output {name!r} differs from PyTorch: {entry}')
    return report


@torch.no_grad()
def _reference_run(graphs: List[DeployGraph], frames: Tensor) -> Tuple[dict, Dict[str, tuple]]:
    """The eager graphs chained on ``frames`` (F, 3, H, W): all named tensors, and each graph's inputs."""
    h, w = frames.shape[-2:]
    run = dict(frames=frames, img_wh=frames.new_tensor([w, h]))
    inputs = {}
    for graph in graphs:
        inputs[graph.name] = graph.example_inputs(run)
        run.update(zip(graph.outputs, _as_tuple(graph.module(*inputs[graph.name]))))
    return run, inputs


def check_graphs(graphs: List[DeployGraph], runtime: GraphSet, samples: Sequence[Tensor]) -> List[dict]:
    """Each graph in the runtime against PyTorch on the same inputs, for every sample clip."""
    reports = []
    for frames in samples:
        run, inputs = _reference_run(graphs, frames)
        report = dict(frames=list(frames.shape))
        for graph in graphs:
            got = _as_tuple(getattr(runtime, graph.name)(*inputs[graph.name]))
            report[graph.name] = compare_outputs(graph.name, graph.outputs, [run[n] for n in graph.outputs], got)
        reports.append(report)
    return reports


def export_clip_model(model: nn.Module, out_dir: str, samples: Sequence[Tensor], manifest: dict,
                      check_backend: str = 'onnxruntime', overwrite: bool = False) -> dict:
    """Export ``model``'s :meth:`deploy_graphs` into ``out_dir`` with a ``deploy.json``.

    Args:
        model: an offline clip model in eval mode (with ``cfg``). samples: normalized clips (F, 3, H, W): the first
            traces the graphs, every one checks them (use different frame counts and sizes).
        manifest: entries written to ``deploy.json`` besides the graphs, the fingerprint, the check and what the
            model gives (its ``test_cfg``, classes and input sides), e.g. the checkpoint's name and sha256.
        check_backend: runtime the check runs in (``none``: no check). overwrite: replace an existing ``out_dir``.

    Returns:
        the manifest written. Nothing is left at ``out_dir`` (nor beside it) when anything fails.
    """
    require_export_packages()
    if check_backend != 'none':
        import_backend(check_backend)
    graphs = model.deploy_graphs()
    parent = os.path.dirname(os.path.abspath(out_dir))
    tmp = tempfile.mkdtemp(dir=parent, prefix='.export_onnx_')
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        run, inputs = _reference_run(graphs, samples[0])
        files = {}
        for graph in graphs:
            path = os.path.join(tmp, f'{graph.name}.onnx')
            _export_graph(graph, inputs[graph.name], path)
            files[graph.name] = dict(file=f'{graph.name}.onnx', sha256=file_sha256(path), inputs=list(graph.inputs),
                                     outputs=list(graph.outputs), dynamic_axes={
                                         k: {str(a): s for a, s in v.items()} for k, v in graph.dynamic_axes.items()})
        check = None
        if check_backend != 'none':
            runtime = GraphSet(tmp, files, check_backend)
            check = dict(backend=check_backend, samples=check_graphs(graphs, runtime, samples))
        model_cfg = dict(model.cfg.model)
        classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
        manifest = dict(dict(test_cfg=plain_values(model.video_test_cfg), classes=list(classes) if classes else None,
                             input_sides=[model.min_input_side, model.max_input_side]), **manifest)
        write_manifest(tmp, dict(manifest, graphs=files, graph_order=[g.name for g in graphs], check=check,
                                 per_frame_keys=list(graphs[0].outputs),
                                 model=dict(type=type(model).__name__, fingerprint=model_fingerprint(model_cfg),
                                            network_cfg=network_cfg(model_cfg), **manifest.get('model', {}))))
        model.cfg.dump(os.path.join(tmp, 'config.py'))
        _move_into_place(tmp, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with open(os.path.join(out_dir, MANIFEST)) as f:
        return json.load(f)


def _move_into_place(tmp: str, out_dir: str, overwrite: bool) -> None:
    """Rename the finished folder to ``out_dir``; an existing one (with ``overwrite``) goes only after that."""
    if not os.path.exists(out_dir):
        os.rename(tmp, out_dir)
        return
    if not overwrite:
        raise FileExistsError(f'{out_dir} exists (pass --overwrite to replace it)')
    old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(out_dir)), prefix='.export_onnx_old_')
    os.rmdir(old)
    os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
