"""Convert official YouTube-VIS / OVIS annotations to the CocoVID json read by mmdet's YouTubeVISDataset.

    python tools/dataset_converters/youtubevis2coco.py -i train.json -o youtube_vis_2019_train.json [--overwrite]
    python tools/dataset_converters/youtubevis2coco.py -i ANN_DIR -o OUT_DIR --version 2019|2021|ovis [--overwrite]

With a folder, every official split file found is converted: 2019 ``{train,valid,test}.json`` ->
``youtube_vis_2019_{split}.json``; 2021 ``{split}/instances.json`` -> ``youtube_vis_2021_{split}.json``;
OVIS ``annotations_{split}.json`` -> ``ovis_{split}.json``.

Bad input (not json, missing keys, unknown video/category ids, per-frame lists of the wrong length, boxes
outside the image, polygons with fewer than 3 points or crossing themselves, RLE of the wrong size; see
mmseqformer/converters/ytvis_converter.py) prints one error line naming the file, the annotation and the video,
and exits with 2. Existing outputs are refused unless ``--overwrite`` is given; outputs are written to a
temporary name and renamed, and in folder mode only once every file converted, so nothing is left half-written.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmseqformer.converters import LAYOUTS, convert_dir, convert_file
from mmseqformer.utils.cli import ToolArgumentParser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog='youtubevis2coco.py', description=__doc__.split('\n')[0])
    parser.add_argument('-i', '--input', required=True, help='official json file, or folder of official files')
    parser.add_argument('-o', '--output', required=True, help='output json file, or folder with --version')
    parser.add_argument('--version', choices=sorted(LAYOUTS), help='layout of an input folder')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    prog = 'youtubevis2coco.py'
    try:
        if osp.isdir(args.input):
            if args.version is None:
                raise ValueError(f'{args.input} is a folder: --version is required')
            results = convert_dir(args.input, args.output, args.version, overwrite=args.overwrite)
        else:
            if not osp.isfile(args.input):
                raise FileNotFoundError(f'{args.input}: no such file or folder')
            counts = convert_file(args.input, args.output, overwrite=args.overwrite)
            results = [(args.input, args.output, counts)]
    except (ValueError, OSError) as e:  # YTVISFormatError is a ValueError
        msg = ' '.join(str(e).split())
        print(f'{prog}: error: {msg}', file=sys.stderr)
        return 2
    for src, dst, counts in results:
        print(f'{src} -> {dst}: ' + ', '.join(f'{v} {k}' for k, v in counts.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
