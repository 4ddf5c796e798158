"""Runtimes that execute exported graphs: ONNX Runtime and OpenVINO, imported only when used."""
import importlib
import os
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

# backend name -> the package it needs
BACKEND_PACKAGES = {'onnxruntime': 'onnxruntime', 'openvino': 'openvino'}


class BackendUnavailableError(RuntimeError):
    """The runtime package of a backend is not installed."""


def import_backend(backend: str):
    """The runtime module of ``backend``; one-line errors for an unknown or missing one."""
    if backend not in BACKEND_PACKAGES:
        raise ValueError(f'unknown backend {backend!r}; choose from {", ".join(BACKEND_PACKAGES)}')
    try:
        return importlib.import_module(BACKEND_PACKAGES[backend])
    except ImportError as e:
        raise BackendUnavailableError(f'backend {backend!r} needs the package {BACKEND_PACKAGES[backend]!r}: '
                                      f'pip install -r requirements/deploy.txt (or pip install .[deploy])') from e


def ort_session_options(threads: int):
    """The ONNX Runtime session options every graph runs with (the op profile too)."""
    ort = import_backend('onnxruntime')
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # no busy-waiting between runs: the Python side (and torch's threads) share the cores
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    # No arena: it keeps every extent it ever grew, and sizes vary here (the video's last chunk, clip and window
    # lengths). R50, 36 frames at 360x640 (docs/deployment.md): peak RSS 2.4 GB without, 5.5 GB with it on the
    # encode graph only (6.3 GB on all), for ~5% (~10% on all) less time.
    options.enable_cpu_mem_arena = False
    return options


def _ort_runner(path: str, threads: int) -> Callable[[Dict[str, object]], List[object]]:
    ort = import_backend('onnxruntime')
    session = ort.InferenceSession(path, ort_session_options(threads), providers=['CPUExecutionProvider'])
    return lambda feeds: session.run(None, feeds)


def _openvino_runner(path: str, threads: int) -> Callable[[Dict[str, object]], List[object]]:
    ov = import_backend('openvino')
    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), 'CPU', {
        'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_NUM_THREADS': threads, 'INFERENCE_PRECISION_HINT': 'f32'})
    request = compiled.create_infer_request()
    outputs = compiled.outputs

    def run(feeds: Dict[str, object]) -> List[object]:
        result = request.infer(feeds)
        return [result[out] for out in outputs]
    return run


_RUNNERS = {'onnxruntime': _ort_runner, 'openvino': _openvino_runner}


class GraphSet:
    """The graphs of an exported folder in one backend; each graph is a method of its name taking and returning
    torch tensors (inputs in the graph's order, outputs as a tuple, or the tensor when there is one), so that the
    benchmark can time each as a stage.

    Args:
        folder: the exported folder. graphs: manifest ``graphs`` (name -> file, inputs, outputs).
        backend: ``onnxruntime`` or ``openvino``. threads: intra-op threads (None: torch's).
    """

    def __init__(self, folder: str, graphs: Dict[str, dict], backend: str, threads: int = None) -> None:
        threads = threads or torch.get_num_threads()
        self.backend = backend
        self.io: Dict[str, Tuple[Sequence[str], Sequence[str]]] = {}
        for name, graph in graphs.items():
            runner = _RUNNERS[backend](os.path.join(folder, graph['file']), threads)
            self.io[name] = (graph['inputs'], graph['outputs'])
            setattr(self, name, self._bind(name, runner))

    def _bind(self, name: str, runner: Callable) -> Callable[..., object]:
        inputs, _ = self.io[name]

        def run(*tensors: Tensor):
            if len(tensors) != len(inputs):
                raise TypeError(f'graph {name!r} takes {len(inputs)} inputs ({", ".join(inputs)}), '
                                f'got {len(tensors)}')
            device = tensors[0].device
            feeds = {key: t.detach().to('cpu', torch.float32).contiguous().numpy() for key, t in zip(inputs, tensors)}
            outs = tuple(torch.from_numpy(o).to(device) for o in runner(feeds))
            return outs[0] if len(outs) == 1 else outs
        return run
