"""Convert labelme-annotated video frames to an official YouTube-VIS json.

    python tools/dataset_converters/labelme2ytvis.py INPUT_DIR OUT_JSON [--categories a,b,c] [--overwrite]

INPUT_DIR holds the frames of one video (``*.jpg`` + labelme ``*.json``) or one sub-folder per video. Track
ids come from ``group_id``, a label suffix (``car-1``, ``car_1``) or the shape order within a label; see
mmseqformer/converters/labelme_converter.py. A json whose ``imagePath`` is missing or null uses the one image
with its stem next to it (``f2.json`` -> ``f2.jpg``). Convert the result to the CocoVID json that mmdet reads
with tools/dataset_converters/youtubevis2coco.py. Bad input prints one error line naming the file and exits
with 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mmseqformer.converters import convert_labelme_file
from mmseqformer.utils.cli import ToolArgumentParser

PROG = 'labelme2ytvis.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('input_dir', help='folder of labelme frames, or of one folder per video')
    parser.add_argument('out_json', help='output YouTube-VIS json')
    parser.add_argument('--categories', help='comma-separated class names in id order (default: all labels, '
                        'sorted); shapes of other labels are skipped')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUT_JSON')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    categories = args.categories.split(',') if args.categories is not None else None
    try:
        summary = convert_labelme_file(args.input_dir, args.out_json, categories, overwrite=args.overwrite)
    except (ValueError, OSError) as e:  # LabelmeFormatError is a ValueError
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    print(f'{args.input_dir} -> {args.out_json}: {summary["videos"]} videos, {summary["frames"]} frames, '
          f'{summary["instances"]} instances; categories: {", ".join(summary["categories"])}')
    print(f'image root (use as the image prefix): {summary["image_root"]}')
    if summary['skipped']:
        print('skipped: ' + ', '.join(f'{n} x {what}' for what, n in sorted(summary['skipped'].items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
