"""Exported models behind the same API as PyTorch ones: the config plus the exported folder."""
import os

from mmdet.registry import MODELS
from mmengine.config import Config

from ..deploy import BACKEND_PACKAGES, BackendUnavailableError, DeployFolderError, ExportedClipModel
from .checkpoint import CheckpointError

BACKENDS = ('pytorch', *BACKEND_PACKAGES)


class BackendError(ValueError):
    """An unknown backend, or one whose runtime package is not installed."""


def exported_model_cfg(cfg: Config, deploy_dir: str, backend: str) -> dict:
    """The config's model wrapped in an :class:`ExportedClipModel` of ``deploy_dir`` (its test rules still apply)."""
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    return dict(type='ExportedClipModel', deploy_dir=deploy_dir, backend=backend, model=model_cfg,
                data_preprocessor=model_cfg.get('data_preprocessor'))


def build_exported_model(cfg: Config, deploy_dir: str, backend: str) -> ExportedClipModel:
    """:class:`ExportedClipModel` of ``deploy_dir`` in ``backend`` for the config ``cfg`` (checked against it).

    Raises:
        BackendError: unknown backend or missing runtime package.
        CheckpointError: ``deploy_dir`` is not an export of this config (a ``.pth`` file, another model, damaged).
    """
    if backend not in BACKENDS:
        raise BackendError(f'unknown backend {backend!r}; choose from {", ".join(BACKENDS)}')
    if deploy_dir is None:
        raise CheckpointError(f'--backend {backend} needs the folder tools/deployment/export_onnx.py wrote')
    if os.path.isfile(deploy_dir):
        raise CheckpointError(f'{deploy_dir}: --backend {backend} takes the folder tools/deployment/export_onnx.py '
                              f'wrote, not a checkpoint file')
    try:
        model = MODELS.build(exported_model_cfg(cfg, deploy_dir, backend))
    except DeployFolderError as e:
        raise CheckpointError(str(e)) from None
    except BackendUnavailableError as e:
        raise BackendError(str(e)) from None
    return model
