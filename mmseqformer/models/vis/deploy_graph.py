"""What an offline clip model exports: its network split into graphs the video interface calls."""
from dataclasses import dataclass, field
from typing import Callable, Dict, Tuple

from torch import Tensor, nn


@dataclass
class DeployGraph:
    """One graph of an exported model.

    Attributes:
        name: the graph's name (its file is ``<name>.onnx``).
        module: the eager module whose ``forward(*inputs)`` returns the outputs in order (it calls the model's own
            code; nothing is copied).
        inputs, outputs: tensor names, in order. An input named like an earlier graph's output is that output;
            ``frames`` (F, 3, H, W) and ``img_wh`` (2,) are the video's.
        dynamic_axes: input name -> {axis: symbol}; the same symbol is the same size across inputs.
        example: inputs of a sample run from the named tensors of the run so far (frames, img_wh and the outputs
            of the earlier graphs).
    """

    name: str
    module: nn.Module
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    dynamic_axes: Dict[str, Dict[int, str]] = field(default_factory=dict)
    example: Callable[[Dict[str, Tensor]], Tuple[Tensor, ...]] = None

    def example_inputs(self, run: Dict[str, Tensor]) -> Tuple[Tensor, ...]:
        return self.example(run) if self.example else tuple(run[name] for name in self.inputs)
