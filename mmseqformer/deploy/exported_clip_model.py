"""An exported offline clip model behind the video interface: the graphs replace the network, nothing else."""
from typing import Dict, List, Optional, Tuple

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType
from torch import Tensor

from ..models.vis import ClipDecoding, OfflineClipVISModel
from .backends import GraphSet
from .manifest import DeployFolderError, normalization, read_manifest


@MODELS.register_module()
class ExportedClipModel(OfflineClipVISModel):
    """Runs the graphs of ``tools/deployment/export_onnx.py`` in ONNX Runtime or OpenVINO.

    The first graph encodes chunks of frames (its outputs are the per-frame encodings), the second decodes a clip;
    the model's :meth:`deployed_clip` calls any later ones.

    Chunking, windows and linking, top-k pairs, resizing and thresholding are the PyTorch model's own code
    (:class:`OfflineClipVISModel` and the model's :meth:`deployed_clip`), so the test rules of the config apply as
    they are. Frames must be unpadded (the graphs take no padding masks).

    Args:
        deploy_dir: the exported folder (``deploy.json`` and the graphs).
        model: the config's model (checked against the folder; its type owns the clip decoding, its ``test_cfg``
            overrides the exported one).
        backend: ``onnxruntime`` or ``openvino``. threads: intra-op threads (None: torch's).
    """

    def __init__(self, deploy_dir: str, model: ConfigType, backend: str = 'onnxruntime',
                 threads: Optional[int] = None, data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.manifest = read_manifest(deploy_dir, model)
        self.check_normalization(deploy_dir)
        self.model_class = MODELS.get(self.manifest['model']['type'])
        self.graphs = GraphSet(deploy_dir, self.manifest['graphs'], backend, threads)
        self.backend = backend
        self.per_frame_keys = tuple(self.manifest['per_frame_keys'])
        self.min_input_side, self.max_input_side = self.manifest['input_sides']
        self.decode_short_video_whole = self.model_class.decode_short_video_whole
        self.test_cfg = dict(self.manifest['test_cfg'], **(model.get('test_cfg') or {}))
        self.check_test_cfg()

    def check_normalization(self, deploy_dir: str) -> None:
        """The config must normalize frames as the export did (the graphs take normalized frames)."""
        rules = self.manifest.get('input') or {}
        for key, value in normalization(self.data_preprocessor).items():
            if key in rules and rules[key] != value:
                raise DeployFolderError(f'{deploy_dir} was exported with {key}={rules[key]}, the config has {value} '
                                        f'(model.data_preprocessor)')

    def encode_frames(self, frames: Tensor, masks: Optional[Tensor] = None) -> Dict[str, Tensor]:
        if masks is not None:
            raise ValueError('an exported model takes unpadded frames only (a padded batch needs the PyTorch model)')
        encode = self.manifest['graph_order'][0]
        return dict(zip(self.graphs.io[encode][1], getattr(self.graphs, encode)(frames)))

    def decode_clip(self, enc: dict, meta: dict) -> ClipDecoding:
        decode = self.manifest['graph_order'][1]
        inputs, outputs = self.graphs.io[decode]
        decoded = dict(zip(outputs, getattr(self.graphs, decode)(*(enc[name] for name in inputs))))
        return self.model_class.deployed_clip(decoded, enc, meta, self.graphs, self.test_cfg)

    def benchmark_stages(self) -> Dict[str, List[Tuple[object, str]]]:
        return {name: [(self.graphs, name)] for name in self.manifest['graph_order']}

    def loss(self, *args, **kwargs):
        raise NotImplementedError('an exported model is for inference only')
