"""``deploy.json``: what the runtime needs beside the graphs, and the checks that an exported folder fits a config."""
import hashlib
import json
import os
from typing import Any, Dict

from ..utils.file_digest import file_sha256

MANIFEST = 'deploy.json'
FORMAT_VERSION = 1
# model config entries that do not change the network's function (test rules stay with the config)
_NOT_NETWORK = ('test_cfg', 'train_cfg', 'init_cfg', 'data_preprocessor')


class DeployFolderError(ValueError):
    """A folder that is not an export, is damaged, or was exported from another model config."""


def network_cfg(value: Any) -> Any:
    """The model config without init/test/train entries, as plain JSON-able values in a stable order."""
    if isinstance(value, dict):
        return {k: network_cfg(v) for k, v in sorted(value.items()) if k not in _NOT_NETWORK}
    if isinstance(value, (list, tuple)):
        return [network_cfg(v) for v in value]
    return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)


def model_fingerprint(model_cfg: dict) -> str:
    """sha256 of the network part of a model config (its layers and sizes, not its test rules or init)."""
    plain = json.dumps(network_cfg(dict(model_cfg)), sort_keys=True)
    return hashlib.sha256(plain.encode()).hexdigest()


def first_difference(a: Any, b: Any, path: str = 'model') -> str:
    """The first config key at which two network configs differ (for the error line)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b or a[key] != b[key]:
                return first_difference(a.get(key), b.get(key), f'{path}.{key}')
    return path


def normalization(data_preprocessor) -> Dict[str, Any]:
    """``mean``, ``std`` (lists, None when off) and ``bgr_to_rgb`` of a data preprocessor: what the graphs' frames
    went through (``deploy.json`` ``input``)."""
    enabled = getattr(data_preprocessor, '_enable_normalize', False)
    return dict(mean=data_preprocessor.mean.flatten().tolist() if enabled else None,
                std=data_preprocessor.std.flatten().tolist() if enabled else None,
                bgr_to_rgb=bool(getattr(data_preprocessor, '_channel_conversion', False)))


def write_manifest(folder: str, manifest: Dict[str, Any]) -> None:
    with open(os.path.join(folder, MANIFEST), 'w') as f:
        json.dump(dict(manifest, format_version=FORMAT_VERSION), f, indent=1, sort_keys=True)


def read_manifest(folder: str, model_cfg: dict = None, verify_files: bool = True) -> Dict[str, Any]:
    """The manifest of an exported folder, checked: format, graph files present and unchanged, and (with
    ``model_cfg``) exported from that model config. Raises :class:`DeployFolderError` (one line)."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise DeployFolderError(f'{folder}: not an exported model folder (export one with '
                                f'tools/deployment/export_onnx.py)')
    if not os.path.isfile(path):
        raise DeployFolderError(f'{folder}: no {MANIFEST}: not an exported model folder (export one with '
                                f'tools/deployment/export_onnx.py)')
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise DeployFolderError(f'{path}: unreadable ({type(e).__name__}: {e})') from e
    if not isinstance(manifest, dict) or manifest.get('format_version') != FORMAT_VERSION:
        raise DeployFolderError(f'{path}: not a deploy.json of format {FORMAT_VERSION}')
    for name, graph in manifest['graphs'].items():
        file = os.path.join(folder, graph['file'])
        if not os.path.isfile(file):
            raise DeployFolderError(f'{folder}: graph {name!r} is missing ({graph["file"]})')
        if verify_files and file_sha256(file) != graph['sha256']:
            raise DeployFolderError(f'{file}: changed since the export (sha256 differs from {MANIFEST})')
    if model_cfg is not None and model_fingerprint(model_cfg) != manifest['model']['fingerprint']:
        where = first_difference(network_cfg(dict(model_cfg)), manifest['model']['network_cfg'])
        raise DeployFolderError(f'{folder} was exported from another model config (they differ at {where})')
    return manifest
