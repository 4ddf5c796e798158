"""Write the toy_vis evaluation subset of the videos with occlusion and print their ids.

    python tools/dataset_converters/toy_vis_occluded.py --root data/toy_vis [--split valid] [--ratio 0.5]

A video is occluded when some instance's visible area is below RATIO of its unoccluded area in at least one frame
(mmseqformer/converters/toy_vis_subsets.py). Writes ROOT/annotations/toy_vis_SPLIT_occluded.json (CocoVID), which
tools/test.py evaluates with
    --cfg-options test_dataloader.dataset.ann_file=annotations/toy_vis_SPLIT_occluded.json
Bad arguments or a missing set print one error line and exit with status 2.
"""
import argparse
import sys
from typing import List, Optional

from mmseqformer.converters import occluded_video_ids, write_video_subset
from mmseqformer.utils.cli import ToolArgumentParser

PROG = 'toy_vis_occluded.py'


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f'expected a number in (0, 1], got {value}')
    return value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('--root', default='data/toy_vis', help='the toy_vis folder (default data/toy_vis)')
    parser.add_argument('--split', default='valid', choices=('train', 'valid'), help='split (default valid)')
    parser.add_argument('--ratio', type=_ratio, default=0.5, help='visible / unoccluded area below which an '
                        'instance counts as occluded (default 0.5)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        ids = occluded_video_ids(args.root, args.split, args.ratio)
        if not ids:
            raise ValueError(f'no video of the {args.split} split has an instance less than {args.ratio} visible')
        path = write_video_subset(args.root, args.split, ids, 'occluded')
    except (ValueError, OSError) as e:  # missing or unreadable files, json errors, no occluded video
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    except KeyError as e:  # a json of another layout
        print(f'{PROG}: error: {args.root}: not a toy_vis set (its annotation files lack {e})', file=sys.stderr)
        return 2
    print(f'{len(ids)} occluded videos (ids {", ".join(map(str, ids))}) -> {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
