"""Turn a training checkpoint into a release: weights and metadata only, optionally fp16.

    python tools/model_converters/publish_model.py work_dirs/x/iter_1500.pth demo/checkpoints/x.pth [--fp16]
        [--overwrite]

The optimizer state, message hub and RNG states are dropped; ``meta.dataset_meta`` (class names,
palette) is kept so that inference knows the classes. fp16 storage halves the file; loading casts
the weights back to the model's dtype.

A missing, truncated, corrupt or foreign input (not a dict with a ``state_dict`` of tensors) prints one error
line and exits with 2. An existing output is only replaced with ``--overwrite``; the output is written to a
temporary name next to it and renamed, and the temporary file is removed on any failure.
"""
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

import torch

from mmseqformer.utils.atomic_write import save_torch_atomic
from mmseqformer.utils.cli import ToolArgumentParser
from mmseqformer.utils.file_digest import file_sha256

PROG = 'publish_model.py'


class PublishError(ValueError):
    """The input is not a readable training checkpoint; the message names the file."""



def load_checkpoint(src: str) -> Dict[str, Any]:
    """``torch.load`` of a trusted training checkpoint, checked to hold a ``state_dict`` of tensors.

    Raises:
        PublishError: unreadable (truncated, corrupt, not a torch file) or not an mmengine checkpoint.
    """
    try:
        ckpt = torch.load(src, map_location='cpu', weights_only=False)  # a trusted training checkpoint
    except Exception as e:  # EOFError, UnpicklingError, RuntimeError, BadZipFile, ... depending on the damage
        detail = str(e).splitlines()[0] if str(e) else ''
        raise PublishError(f'{src}: not a readable checkpoint (truncated or corrupt?): '
                           f'{type(e).__name__}: {detail}') from None
    if not isinstance(ckpt, dict) or 'state_dict' not in ckpt:
        raise PublishError(f'{src}: not an mmengine checkpoint (no state_dict)')
    state_dict = ckpt['state_dict']
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise PublishError(f'{src}: state_dict is not a mapping of names to tensors')
    if not isinstance(ckpt.get('meta', {}), dict):
        raise PublishError(f'{src}: meta is not a dict')
    return ckpt


def publish(src: str, dst: str, fp16: bool) -> str:
    """Write the release checkpoint of ``src`` to ``dst`` (via a temporary file); returns its sha256."""
    ckpt = load_checkpoint(src)
    state_dict = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in ckpt['state_dict'].items()}
    meta = ckpt.get('meta', {})
    keep = {k: meta[k] for k in ('dataset_meta', 'mmengine_version', 'iter', 'epoch', 'seed', 'experiment_name')
            if k in meta}
    keep['source'] = osp.basename(src)
    keep['weights_dtype'] = 'float16' if fp16 else 'float32'
    save_torch_atomic(dict(state_dict=state_dict, meta=keep), dst)
    return file_sha256(dst)


def main(argv: Optional[List[str]] = None) -> int:
    parser = ToolArgumentParser(prog=PROG, description='Strip a training checkpoint for release.')
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--fp16', action='store_true', help='store floating-point weights as float16')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    args = parser.parse_args(argv)
    try:
        if not osp.isfile(args.src):
            raise FileNotFoundError(f'{args.src}: no such file')
        if osp.exists(args.dst) and not args.overwrite:
            raise FileExistsError(f'{args.dst} exists (use --overwrite)')
        digest = publish(args.src, args.dst, args.fp16)
    except (ValueError, OSError) as e:  # PublishError is a ValueError
        msg = ' '.join(str(e).split())
        print(f'{PROG}: error: {msg}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f'wrote {args.dst} ({osp.getsize(args.dst) / 2**20:.1f} MiB, sha256 {digest[:8]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
