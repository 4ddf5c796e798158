"""Where an exported model's time goes in ONNX Runtime: seconds per operator type of each graph."""
import collections
import json
import os
from typing import Dict

import torch

from .backends import import_backend, ort_session_options
from .manifest import read_manifest


def _session(path: str, threads: int):
    ort = import_backend('onnxruntime')
    options = ort_session_options(threads)  # as the backend runs it, profiled
    options.enable_profiling = True
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def _op_seconds(session, feeds: Dict[str, object]):
    """Run twice (the first run warms up); seconds per operator type of the second, and its outputs."""
    session.run(None, feeds)
    outputs = session.run(None, feeds)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    os.remove(f.name)
    last = [e for e in events if e.get('name') == 'model_run'][-1]['ts']
    seconds = collections.Counter()
    for e in events:
        if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time') and e['ts'] >= last:
            seconds[e['args']['op_name']] += e['dur'] / 1e6
    return dict(seconds.most_common()), outputs


def profile_ops(folder: str, frames: torch.Tensor, num_queries: int = 10, threads: int = None) -> Dict[str, dict]:
    """Seconds per operator type of every graph on one clip ``frames`` (F, 3, H, W), normalized: the first graph
    encodes it, the second decodes it, a third (masks) runs on the first ``num_queries`` queries.

    Returns:
        graph name -> {op type: seconds}, most expensive first.
    """
    manifest = read_manifest(folder)
    threads = threads or torch.get_num_threads()
    named = dict(frames=frames.numpy(), img_wh=frames.new_tensor(frames.shape[-1:-3:-1]).numpy())
    result = {}
    for name in manifest['graph_order']:
        graph = manifest['graphs'][name]
        feeds = {key: named[key] for key in graph['inputs']}
        if len(result) == 2:  # a later graph runs on a few queries, as inference asks it
            feeds = {key: _first_queries(key, value, graph, num_queries) for key, value in feeds.items()}
        result[name], outputs = _op_seconds(_session(os.path.join(folder, graph['file']), threads), feeds)
        named.update(zip(graph['outputs'], outputs))
    return result


def _first_queries(key: str, value, graph: dict, k: int):
    for axis, symbol in graph['dynamic_axes'].get(key, {}).items():
        if symbol == 'queries':
            index = [slice(None)] * value.ndim
            index[int(axis)] = slice(0, k)
            return value[tuple(index)]
    return value
