"""Reading the weights of an official (non-mmengine) checkpoint file for the checkpoint converters."""
import pickle
from typing import Dict


class UnreadableCheckpointError(ValueError):
    """A checkpoint file that cannot be read, or holds no state dict."""


def read_checkpoint_file(path: str) -> object:
    """The object saved in a checkpoint file, loaded on the CPU.

    Raises:
        UnreadableCheckpointError: unreadable or truncated file.
    """
    import torch

    try:
        try:
            return torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError:
            # official checkpoints pickle argparse.Namespace args next to the weights; the converters are for
            # trusted files, so a full unpickle is acceptable as the fallback
            return torch.load(path, map_location='cpu', weights_only=False)
    except Exception as e:  # torch reports truncation/corruption with several exception types
        raise UnreadableCheckpointError(f'cannot read {path}: {type(e).__name__}: {" ".join(str(e).split())}') from e


def load_official_state_dict(path: str) -> Dict[str, object]:
    """The ``model`` state dict of a checkpoint file (or the file's own state dict).

    Raises:
        UnreadableCheckpointError: unreadable/truncated file, or content that is not a state dict.
    """
    import torch

    obj = read_checkpoint_file(path)
    if isinstance(obj, dict) and isinstance(obj.get('model'), dict):
        obj = obj['model']
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise UnreadableCheckpointError(f'{path} holds neither a state dict nor a dict with a "model" state dict')
    return obj
