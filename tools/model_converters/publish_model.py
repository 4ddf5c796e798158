"""Turn a training checkpoint into a release: weights and metadata only, optionally fp16.

    python tools/model_converters/publish_model.py work_dirs/x/iter_1500.pth demo/checkpoints/x.pth [--fp16]

The optimizer state, message hub and RNG states are dropped; ``meta.dataset_meta`` (class names,
palette) is kept so that inference knows the classes. fp16 storage halves the file; loading casts
the weights back to the model's dtype.
"""
import argparse
import hashlib
import os
import os.path as osp
import sys

import torch


def publish(src: str, dst: str, fp16: bool) -> str:
    ckpt = torch.load(src, map_location='cpu', weights_only=False)  # a trusted training checkpoint
    if not isinstance(ckpt, dict) or 'state_dict' not in ckpt:
        raise ValueError(f'{src}: not an mmengine checkpoint (no state_dict)')
    state_dict = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in ckpt['state_dict'].items()}
    meta = ckpt.get('meta', {})
    keep = {k: meta[k] for k in ('dataset_meta', 'mmengine_version', 'iter', 'epoch', 'seed', 'experiment_name')
            if k in meta}
    keep['source'] = osp.basename(src)
    keep['weights_dtype'] = 'float16' if fp16 else 'float32'
    tmp = dst + '.tmp'
    torch.save(dict(state_dict=state_dict, meta=keep), tmp)
    os.replace(tmp, dst)
    with open(dst, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description='Strip a training checkpoint for release.')
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--fp16', action='store_true', help='store floating-point weights as float16')
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args()
    prog = osp.basename(sys.argv[0])
    if not osp.isfile(args.src):
        print(f'{prog}: error: {args.src}: no such file', file=sys.stderr)
        return 2
    if osp.exists(args.dst) and not args.overwrite:
        print(f'{prog}: error: {args.dst} exists (use --overwrite)', file=sys.stderr)
        return 2
    try:
        os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
        digest = publish(args.src, args.dst, args.fp16)
    except (ValueError, OSError, RuntimeError) as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 2
    print(f'wrote {args.dst} ({osp.getsize(args.dst) / 2**20:.1f} MiB, sha256 {digest[:8]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
