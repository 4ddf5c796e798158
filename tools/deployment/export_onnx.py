"""Export an offline clip model (SeqFormer) to ONNX graphs that ONNX Runtime or OpenVINO run (docs/deployment.md).

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out DIR [--overwrite] [--check-backend onnxruntime]

DIR gets one graph per part the video interface calls (``encode.onnx``: frames -> per-frame encodings,
``decode.onnx``: a clip's encodings -> class scores, query embeddings and references, ``masks.onnx``: masks of
chosen queries on a frame range), each with dynamic frame count and image size; ``deploy.json`` (what the runtime
needs and the check's figures) and ``config.py``. The export checks itself: ONNX checker, then every graph in the
runtime against PyTorch on three sample clips of different lengths and sizes. DIR appears only when all passed.

Bad input (missing files, a config and checkpoint that do not fit, an online model, an existing DIR without
--overwrite, an unwritable place, missing packages) is one error line and exit 2; a graph that does not reproduce
PyTorch is one line and exit 1. Nothing is left behind on failure.
"""
import os
import os.path as osp
import sys
import tempfile
from typing import List, Optional

from mmseqformer.utils.cli import CliError, KeyValueAction, ToolArgumentParser

PROG = 'export_onnx.py'
# (frames, height, width) of the sample clips before the config's test resize: the first traces the graphs
SAMPLE_CLIPS = ((3, 240, 320), (2, 200, 360), (1, 256, 232))


def parse_args(argv: Optional[List[str]] = None):
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='the folder to write (must not exist, or --overwrite)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing --out folder')
    parser.add_argument('--check-backend', default='onnxruntime', choices=('onnxruntime', 'openvino', 'none'),
                        help='runtime that checks the graphs against PyTorch (default onnxruntime)')
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction, default=[], metavar='KEY=VALUE',
                        help='override config entries before the model is built')
    return parser.parse_args(argv)


def check_paths(args) -> None:
    """Everything about the files that can be refused before the model is loaded."""
    for what, path in (('config', args.config), ('checkpoint', args.checkpoint)):
        if not osp.isfile(path):
            raise CliError(f'{path}: no such {what} file')
    if osp.exists(args.out) and not args.overwrite:
        raise CliError(f'{args.out} exists (pass --overwrite to replace it)')
    if osp.exists(args.out) and not osp.isdir(args.out):
        raise CliError(f'{args.out} exists and is not a folder')
    parent = osp.dirname(osp.abspath(args.out))
    if not osp.isdir(parent):
        raise CliError(f'{parent}: no such folder (the parent of --out)')
    try:  # permission bits do not stop root: try it
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix='.export_onnx_'))
    except OSError as e:
        raise CliError(f'{parent}: cannot write here ({e.strerror})') from None


def load_model(args):
    from mmengine.config import DictAction

    from mmseqformer.apis import CheckpointError, ConfigError, init_model
    from mmseqformer.models.vis import OfflineClipVISModel
    options = {}
    if args.cfg_options:
        parsed = type('Namespace', (), {})()
        DictAction(option_strings=['--cfg-options'], dest='options')(None, parsed, args.cfg_options)
        options = parsed.options
    try:
        model = init_model(args.config, args.checkpoint, cfg_options=options)
    except (CheckpointError, ConfigError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    if not isinstance(model, OfflineClipVISModel):
        raise CliError(f'export supports offline clip models; {type(model).__name__} is not one '
                       f'(online models run frame by frame with a tracker)')
    try:
        model.deploy_graphs()
    except NotImplementedError as e:
        raise CliError(str(e)) from None
    return model


def sample_clips(model) -> tuple:
    """The sample clips at network size, normalized, and the input rules that made them (for deploy.json)."""
    from mmseqformer.apis import FramePreprocessor
    from mmseqformer.apis.benchmark import make_frames
    from mmseqformer.deploy.manifest import normalization
    pre = FramePreprocessor(model)
    clips = [pre.to_tensor([pre.resize_frame(f) for f in make_frames(t, (h, w), seed=i)], 'cpu')
             for i, (t, h, w) in enumerate(SAMPLE_CLIPS)]
    return clips, dict(normalization(model.data_preprocessor), resize=pre.resize_cfg)


def export(args) -> dict:
    from mmseqformer.deploy import BackendUnavailableError
    from mmseqformer.deploy.export import export_clip_model, require_export_packages
    from mmseqformer.utils.file_digest import file_sha256
    try:
        require_export_packages()
        if args.check_backend != 'none':
            from mmseqformer.deploy import import_backend
            import_backend(args.check_backend)
    except BackendUnavailableError as e:
        raise CliError(str(e)) from None
    model = load_model(args)
    checkpoint = dict(file=osp.basename(args.checkpoint), sha256=file_sha256(args.checkpoint))
    clips, rules = sample_clips(model)
    return export_clip_model(model, args.out, clips, dict(checkpoint=checkpoint, input=rules),
                             check_backend=args.check_backend, overwrite=args.overwrite)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_paths(args)
        manifest = export(args)
    except CliError as e:
        print(f'{PROG}: error: {" ".join(str(e).split())}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a graph that does not export or does not reproduce PyTorch: a bug, not bad input
        if os.environ.get('MMSEQFORMER_TRACEBACK'):
            raise
        print(f'{PROG}: error: {type(e).__name__}: {" ".join(str(e).split())[:500]}', file=sys.stderr)
        return 1
    sizes = ', '.join(f"{g['file']} {osp.getsize(osp.join(args.out, g['file'])) / 2**20:.1f} MiB"
                      for g in manifest['graphs'].values())
    check = manifest['check']
    checked = (f"checked in {check['backend']} on {len(check['samples'])} clips" if check else 'not checked')
    print(f'wrote {args.out}: {sizes}; {checked}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
