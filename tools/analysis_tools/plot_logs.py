"""Plot training curves from mmengine's ``vis_data/scalars.json`` to a PNG.

    python tools/analysis_tools/plot_logs.py WORK_DIR_OR_SCALARS_JSON [--keys loss youtube_vis/segm_mAP ...]
        --out curves.png [--title TEXT]

The input is a ``scalars.json`` (one JSON object per line), a run folder ``WORK_DIR/<timestamp>``, or a
work dir: then the ``*/vis_data/scalars.json`` of all its runs are read in time order, so a resumed run
continues the curve (where runs overlap, the later one wins). One panel per key, against the logged step:
the iteration for training values; for validation metrics the epoch, or the iteration when the logger
hook has ``log_metric_by_epoch=False``. Bad input prints one error line and exits with 2; ``--out`` never
replaces an existing file.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from mmseqformer.utils.cli import ToolArgumentParser

PROG = 'plot_logs.py'
TRAIN_MARKERS = ('iter', 'lr')  # keys present in every training row, never in validation rows



def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('src', metavar='WORK_DIR_OR_SCALARS_JSON', help='work dir, run dir or scalars.json')
    parser.add_argument('--keys', nargs='+', default=['loss'], help='scalars to plot (default: loss)')
    parser.add_argument('--out', required=True, help='output PNG (must not exist)')
    parser.add_argument('--title', default=None, help='figure title (default: the input path)')
    return parser.parse_args(argv)


def find_scalar_files(src: str) -> List[str]:
    """The scalars.json files of ``src`` (a file, a run folder or a work dir), oldest run first."""
    if osp.isfile(src):
        return [src]
    if not osp.isdir(src):
        raise FileNotFoundError(f'{src}: no such file or folder')
    own = osp.join(src, 'vis_data', 'scalars.json')
    if osp.isfile(own):
        return [own]
    # run folders are named by their start time (YYYYMMDD_HHMMSS), so name order is time order
    files = sorted(glob.glob(osp.join(glob.escape(src), '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'{src}: no vis_data/scalars.json in it or in its run folders')
    return files


def read_scalars(files: List[str]) -> List[dict]:
    rows = []
    for path in files:
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError(f'{path}:{lineno}: not a JSON object per line (is this a scalars.json?)') \
                        from None
                if not isinstance(row, dict):
                    raise ValueError(f'{path}:{lineno}: not a JSON object per line (is this a scalars.json?)')
                rows.append(row)
    if not rows:
        raise ValueError(f'{", ".join(files)}: no logged values')
    return rows


def collect_series(rows: List[dict], keys: List[str]) -> Dict[str, Tuple[List[float], List[float], str]]:
    """Per key: x values, y values and the x-axis label; a later row with the same step replaces an earlier one."""
    series = {}
    for key in keys:
        points: Dict[float, float] = {}
        train_rows = True
        for row in rows:
            value = row.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                continue
            x = row.get('step', row.get('iter'))
            if not isinstance(x, (int, float)):
                continue
            train_rows = train_rows and all(k in row for k in TRAIN_MARKERS)
            points[x] = float(value)
        if points:
            xs = sorted(points)
            series[key] = (xs, [points[x] for x in xs], 'iteration' if train_rows else 'step (epoch or iteration)')
    return series


def plot(series: Dict[str, Tuple[List[float], List[float], str]], out: str, title: str) -> None:
    """Draw one panel per key and write the PNG to a temporary name, then rename it to ``out``."""
    import matplotlib
    matplotlib.use('Agg')  # no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(8, 3 * len(series)), squeeze=False)
    for ax, (key, (xs, ys, xlabel)) in zip(axes[:, 0], series.items()):
        ax.plot(xs, ys, marker='o' if len(xs) <= 30 else None, markersize=3)
        ax.set_ylabel(key)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    out_dir = osp.dirname(osp.abspath(out))
    tmp = osp.join(out_dir, f'.{osp.basename(out)}.{os.getpid()}.tmp.png')
    try:
        fig.savefig(tmp, format='png', dpi=100)
        if osp.exists(out):
            raise FileExistsError(f'--out {out} exists; not overwriting it')
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        if osp.exists(tmp):
            os.remove(tmp)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if not args.out.lower().endswith('.png'):
            raise ValueError(f'--out {args.out}: expected a .png file name')
        if osp.exists(args.out):
            raise FileExistsError(f'--out {args.out} exists; not overwriting it')
        if not osp.isdir(osp.dirname(osp.abspath(args.out))):
            raise FileNotFoundError(f'--out {args.out}: folder {osp.dirname(osp.abspath(args.out))} does not exist')
        rows = read_scalars(find_scalar_files(args.src))
        series = collect_series(rows, args.keys)
        missing = [k for k in args.keys if k not in series]
        if missing:
            available = sorted({k for row in rows for k, v in row.items()
                                if isinstance(v, (int, float)) and k not in ('step', 'iter', 'epoch')})
            raise ValueError(f'no values for {", ".join(missing)}; available keys: {", ".join(available)}')
        plot(series, args.out, args.title or args.src)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print(f'{PROG}: error: {" ".join(str(e).split())}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f'wrote {args.out} ({", ".join(f"{k}: {len(v[0])} points" for k, v in series.items())})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
