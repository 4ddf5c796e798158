"""Frames of a video from a file, a folder, a glob, a list of image paths or a list of arrays."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv', '.gif')
DEFAULT_FOLDER_FPS = 10.0

VideoLike = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], Sequence[np.ndarray], 'VideoSource']


class VideoInputError(ValueError):
    """A video input that cannot be used; the message names the input and the problem."""


def to_bgr_uint8(img: np.ndarray, name: str) -> np.ndarray:
    """Any 2-D image array -> (H, W, 3) uint8 BGR.

    Grayscale is replicated to 3 channels, alpha dropped, 16-bit scaled by 1/257 and float images read as
    [0, 1] (or [0, 255] when their maximum exceeds 1).
    """
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.size == 0:
        raise VideoInputError(f'{name}: not an image array (shape {getattr(img, "shape", None)})')
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] not in (3, 4):
        raise VideoInputError(f'{name}: {img.shape[2]} channels, expected 1, 3 or 4')
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype.kind == 'f':
        scale = 255.0 if float(np.nanmax(img)) <= 1.0 else 1.0
        img = np.clip(np.nan_to_num(img) * scale, 0, 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise VideoInputError(f'{name}: unsupported pixel type {img.dtype}')
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img)


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in '*?[')


class VideoSource:
    """A re-iterable sequence of same-sized BGR uint8 frames with a name and a frame rate.

    Inputs: a video file readable by OpenCV, a folder of images (sorted by name; hidden files ignored,
    any other non-image file is an error), a glob pattern of images, a list of image paths or a list of
    arrays (BGR, or grayscale / BGRA / 16-bit / float, which are converted). Frames are decoded lazily,
    so a long video never sits in memory: each iteration re-reads it.

    Errors (:class:`VideoInputError`, one line naming the input): missing path, unreadable or truncated
    video, a folder or glob without images, non-image files in a folder, unreadable images, frames of
    different sizes, no frame left after ``max_frames`` / ``frame_stride``.

    Args:
        video: the input (see above).
        max_frames: keep at most this many frames (after the stride).
        frame_stride: keep every ``frame_stride``-th frame, starting with the first.
        fps: frame rate of image inputs (video files report their own); default 10.
    """

    def __init__(self, video: VideoLike, max_frames: Optional[int] = None, frame_stride: int = 1,
                 fps: Optional[float] = None) -> None:
        if frame_stride < 1:
            raise VideoInputError(f'frame_stride must be >= 1, got {frame_stride}')
        if max_frames is not None and max_frames < 1:
            raise VideoInputError(f'max_frames must be >= 1, got {max_frames}')
        self.max_frames = max_frames
        self.frame_stride = frame_stride
        self.video_path: Optional[str] = None
        self.image_paths: Optional[List[str]] = None
        self.arrays: Optional[List[np.ndarray]] = None
        if isinstance(video, (str, os.PathLike)):
            self._init_path(os.fspath(video))
        elif isinstance(video, (list, tuple)):
            if len(video) == 0:
                raise VideoInputError('the video is an empty list: no frames')
            if all(isinstance(v, np.ndarray) for v in video):
                self.arrays = list(video)
                self.name = 'video'
            elif all(isinstance(v, (str, os.PathLike)) for v in video):
                self.image_paths = [os.fspath(v) for v in video]
                for path in self.image_paths:
                    if not os.path.isfile(path):
                        raise VideoInputError(f'{path}: no such image file')
                self.name = Path(self.image_paths[0]).parent.name or 'video'
            else:
                raise VideoInputError('a video list must hold only image paths or only arrays')
        else:
            raise VideoInputError(f'unsupported video input of type {type(video).__name__}: expected a path, '
                                  'a list of image paths or a list of arrays')
        self.source_fps = self._probe_fps() if self.video_path else float(fps or DEFAULT_FOLDER_FPS)
        if fps is not None:
            self.source_fps = float(fps)
        self._num_frames: Optional[int] = None

    # -- set-up ---------------------------------------------------------------------------------

    def _init_path(self, path: str) -> None:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if not n.startswith('.'))
            files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
            others = [f for f in files if not f.lower().endswith(IMAGE_EXTENSIONS)]
            if others:
                raise VideoInputError(f'{path}: folder holds a file that is not an image: '
                                      f'{os.path.basename(others[0])} ({len(others)} such file(s))')
            if not files:
                raise VideoInputError(f'{path}: folder holds no images')
            self.image_paths = files
            self.name = Path(path).name
        elif os.path.isfile(path):
            if path.lower().endswith(IMAGE_EXTENSIONS):
                self.image_paths = [path]
            else:
                self.video_path = path
            self.name = Path(path).stem
        elif _is_glob(path):
            files = sorted(f for f in glob.glob(path) if os.path.isfile(f))
            if not files:
                raise VideoInputError(f'{path}: the pattern matches no file')
            others = [f for f in files if not f.lower().endswith(IMAGE_EXTENSIONS)]
            if others:
                raise VideoInputError(f'{path}: the pattern matches a file that is not an image: {others[0]}')
            self.image_paths = files
            self.name = Path(files[0]).parent.name or 'video'
        else:
            raise VideoInputError(f'{path}: no such file or folder')

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.video_path)
        if not cap.isOpened():
            cap.release()
            raise VideoInputError(f'{self.video_path}: cannot be opened as a video (unsupported format or corrupt)')
        return cap

    def _probe_fps(self) -> float:
        cap = self._open()
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        return float(fps) if fps and np.isfinite(fps) and fps > 0 else DEFAULT_FOLDER_FPS

    # -- properties -----------------------------------------------------------------------------

    @property
    def fps(self) -> float:
        """Frame rate of the kept frames (the source rate divided by the stride)."""
        return self.source_fps / self.frame_stride

    def expected_frames(self) -> int:
        """Number of frames an iteration yields (exact after one full iteration; before, for video files, the
        container's frame count)."""
        if self._num_frames is not None:
            return self._num_frames
        if self.video_path:
            cap = self._open()
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()
        else:
            total = len(self.image_paths if self.image_paths is not None else self.arrays)
        kept = max(0, -(-total // self.frame_stride))
        return min(kept, self.max_frames) if self.max_frames else kept

    def __len__(self) -> int:
        return self.expected_frames()

    # -- frames ---------------------------------------------------------------------------------

    def _raw_frames(self) -> Iterator[Tuple[str, np.ndarray]]:
        """(name, frame) of every source frame, before the stride."""
        if self.arrays is not None:
            for i, arr in enumerate(self.arrays):
                yield f'frame {i}', arr
            return
        if self.image_paths is not None:
            for path in self.image_paths:
                img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
                if img is None:
                    raise VideoInputError(f'{path}: not a readable image')
                yield path, img
            return
        cap = self._open()
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        read = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield f'{self.video_path} frame {read}', frame
                read += 1
        finally:
            cap.release()
        if read == 0:
            raise VideoInputError(f'{self.video_path}: no frame could be decoded')
        # containers may count one frame too many; more missing frames mean a truncated or corrupt file
        if declared > 0 and read < declared - 1:
            raise VideoInputError(f'{self.video_path}: truncated or corrupt video: decoded {read} of the '
                                  f'{declared} frames the file declares')

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield the kept frames as (H, W, 3) uint8 BGR arrays, all of one size."""
        size = None
        kept = 0
        for index, (name, frame) in enumerate(self._raw_frames()):
            if index % self.frame_stride:
                continue
            if self.max_frames is not None and kept >= self.max_frames:
                break
            frame = to_bgr_uint8(frame, name)
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise VideoInputError(f'{name}: frame is {frame.shape[1]}x{frame.shape[0]} but the first frame '
                                      f'is {size[1]}x{size[0]}: all frames of a video must have one size')
            kept += 1
            yield frame
        if kept == 0:
            raise VideoInputError(f'{self.name}: no frames')
        self._num_frames = kept
