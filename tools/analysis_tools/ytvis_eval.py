"""Score official-format YouTube-VIS results against an official annotation file.

    python tools/analysis_tools/ytvis_eval.py GT_JSON RESULTS [--out metrics.json] [--verbose]

GT_JSON: an official YouTube-VIS annotation json with ground truth (e.g. a split you hold out yourself, or
the toy set's ``annotations/toy_vis_valid_ytvis.json``). RESULTS: the results json (a list of
``{video_id, score, category_id, segmentations}``) or the submission zip that holds it as ``results.json``
(what ``YouTubeVISMetric(format_only=True)`` writes). Prints one JSON object with AP, AP50, AP75, APs,
APm, APl, AR1, AR10 on a [0, 1] scale (-1 where no ground truth falls in an area range), computed by
mmdet's vendored official evaluator. Bad input (a ground truth that is not JSON or lacks required keys,
results that are not JSON, do not match the ground truth, or a corrupt or truncated zip) prints one error
line naming the file and exits with 2; ``--out`` never replaces an existing file.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import zipfile
import zlib
from typing import Any, List, Optional

from mmseqformer.utils.cli import ToolArgumentParser

PROG = 'ytvis_eval.py'



def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('gt', metavar='GT_JSON', help='official YouTube-VIS annotation json with ground truth')
    parser.add_argument('results', metavar='RESULTS', help='results json, or a submission zip with results.json')
    parser.add_argument('--out', help='also write the metrics JSON here (must not exist)')
    parser.add_argument('--verbose', action='store_true', help="print the evaluator's summary table to stderr")
    return parser.parse_args(argv)


ZIP_MAGIC = b'PK\x03\x04'


def load_results(path: str) -> Any:
    """The results list from a json file or from ``results.json`` inside a submission zip.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not JSON, a zip without ``results.json``, a corrupt or truncated zip; naming ``path``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'results {path}: no such file')
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                if 'results.json' not in zf.namelist():
                    raise ValueError(f'results {path}: the zip has no results.json')
                text = zf.read('results.json')
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
            raise ValueError(f'results {path}: a corrupt zip ({type(e).__name__}: {e})') from None
    else:
        with open(path, 'rb') as f:
            text = f.read()
        if text.startswith(ZIP_MAGIC):
            raise ValueError(f'results {path}: a truncated or corrupt zip (no end-of-archive record)')
    try:
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f'results {path}: not a JSON file ({e})') from None


def write_new(path: str, text: str) -> None:
    """Write ``text`` to a temporary name next to ``path``, then rename; an existing ``path`` is an error."""
    if osp.exists(path):
        raise FileExistsError(f'--out {path} exists; not overwriting it')
    out_dir = osp.dirname(osp.abspath(path))
    if not osp.isdir(out_dir):
        raise FileNotFoundError(f'--out {path}: folder {out_dir} does not exist')
    tmp = osp.join(out_dir, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        if osp.exists(path):  # appeared meanwhile
            raise FileExistsError(f'--out {path} exists; not overwriting it')
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if args.out is not None and osp.exists(args.out):  # fail before the slow evaluation
            raise FileExistsError(f'--out {args.out} exists; not overwriting it')
        if not osp.isfile(args.gt):  # before reading a large results file
            raise FileNotFoundError(f'annotation file {args.gt}: no such file')
        results = load_results(args.results)
        results_name = f'results {args.results}'
        from mmseqformer.evaluation import evaluate_ytvis_results
        if args.verbose:
            stdout, sys.stdout = sys.stdout, sys.stderr  # keep stdout for the JSON
            try:
                metrics = evaluate_ytvis_results(args.gt, results, verbose=True, results_name=results_name)
            finally:
                sys.stdout = stdout
        else:
            metrics = evaluate_ytvis_results(args.gt, results, results_name=results_name)
        text = json.dumps(metrics)
        if args.out is not None:
            write_new(args.out, text + '\n')
    except (OSError, ValueError) as e:  # YTVISResultsError is a ValueError
        msg = ' '.join(str(e).split())
        print(f'{PROG}: error: {msg}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
