"""Deployment: export offline clip models to ONNX graphs and run them in ONNX Runtime or OpenVINO.

Nothing here imports onnx, onnxruntime or openvino until it is used: the core install does not need them.
"""
from .backends import BACKEND_PACKAGES, BackendUnavailableError, GraphSet, import_backend
from .exported_clip_model import ExportedClipModel
from .manifest import DeployFolderError, model_fingerprint, read_manifest

__all__ = ['BACKEND_PACKAGES', 'BackendUnavailableError', 'GraphSet', 'import_backend', 'ExportedClipModel',
           'DeployFolderError', 'model_fingerprint', 'read_manifest']
