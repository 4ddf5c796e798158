"""Writes drawn frames to a video file that web browsers play.

* ``.mp4``: H.264 (libx264), yuv420p, ``+faststart`` (the index first, so playback starts before the
  download ends), encoded by the ffmpeg binary that the ``imageio-ffmpeg`` package ships. When that
  package is missing or its ffmpeg has no libx264, OpenCV writes MPEG-4 part 2 (``mp4v``) instead, which
  browsers refuse; :attr:`VideoWriter.backend` and :attr:`VideoWriter.fallback_reason` say so.
* ``.avi``: Motion JPEG through OpenCV.

H.264 with 4:2:0 chroma needs even frame sizes: an odd width or height is padded by one column or row
that repeats the last one (nothing is cropped).
"""
from __future__ import annotations

import math
import numbers
import os
import subprocess
import tempfile
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

H264_BACKEND = 'imageio-ffmpeg (libx264)'
SUFFIX_FOURCC = {'.mp4': 'mp4v', '.avi': 'MJPG'}  # OpenCV's codec per container


class VideoWriteError(RuntimeError):
    """The video cannot be written (folder, encoder or disk); the message is one line."""


class H264Unavailable(RuntimeError):
    """No ffmpeg with libx264 here; the message says why."""


@lru_cache(maxsize=None)
def _has_libx264(ffmpeg: str) -> bool:
    out = subprocess.run([ffmpeg, '-hide_banner', '-encoders'], capture_output=True, text=True, timeout=60)
    return any(line.split()[1:2] == ['libx264'] for line in out.stdout.splitlines())


def find_h264_ffmpeg() -> str:
    """Path of imageio-ffmpeg's ffmpeg binary; raises :class:`H264Unavailable` if it lacks libx264."""
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise H264Unavailable(f'imageio-ffmpeg is not installed ({e})') from e
    try:
        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        has_x264 = _has_libx264(ffmpeg)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        raise H264Unavailable(f'imageio-ffmpeg has no usable ffmpeg ({e})') from e
    if not has_x264:
        raise H264Unavailable(f'{ffmpeg} has no libx264 encoder')
    return ffmpeg


def even_frame(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H + H % 2, W + W % 2, 3): an odd side gets a copy of its last row/column."""
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode='edge')
    return np.ascontiguousarray(frame)


class VideoWriter:
    """Frames of one size, (H, W, 3) uint8 BGR, into ``path`` (``.mp4`` or ``.avi``; overwritten).

    Nothing is written before the first frame (its size fixes the video's). ``close()`` finishes the
    file; ``abort()`` stops without finishing it (the caller deletes the partial file).

    Args:
        path: the output file; its folder must exist.
        fps: frames per second (> 0).
        crf: H.264 quality, 0 (lossless) to 51 (worst); libx264's default 23.

    Attributes:
        backend: the encoder used, e.g. ``'imageio-ffmpeg (libx264)'``, ``'OpenCV (mp4v)'`` or
            ``'OpenCV (MJPG)'``; known from construction on.
        fallback_reason: why an ``.mp4`` is not H.264 (``None`` when it is, and for ``.avi``).
        frame_size: (width, height) written (even), ``None`` before the first frame.
        frames_written: frames written so far.
    """

    def __init__(self, path: Union[str, Path], fps: float, crf: int = 23) -> None:
        self.path = str(path)
        suffix = Path(self.path).suffix.lower()
        if suffix not in SUFFIX_FOURCC:
            raise ValueError(f'{self.path}: the video must end in .mp4 or .avi')
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise ValueError(f'fps must be a positive number, got {fps!r}')
        if not 0 <= int(crf) <= 51:
            raise ValueError(f'crf must be in [0, 51], got {crf!r}')
        folder = Path(self.path).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise VideoWriteError(f'{self.path}: the folder {folder} does not exist or is not writable')
        self.fps, self.crf = float(fps), int(crf)
        self.fallback_reason: Optional[str] = None
        self._ffmpeg: Optional[str] = None
        if suffix == '.mp4':
            try:
                self._ffmpeg = find_h264_ffmpeg()
            except H264Unavailable as e:
                self.fallback_reason = str(e)
        self._fourcc = SUFFIX_FOURCC[suffix]
        self.backend = H264_BACKEND if self._ffmpeg else f'OpenCV ({self._fourcc})'
        self.frame_size: Optional[Tuple[int, int]] = None
        self.frames_written = 0
        self._shape: Optional[tuple] = None
        self._proc: Optional[subprocess.Popen] = None
        self._stderr = None
        self._cv_writer = None
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Append ``frame`` ((H, W, 3) uint8 BGR, the size of the first frame)."""
        if self._closed:
            raise VideoWriteError(f'{self.path}: the writer is closed')
        if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
                and frame.shape[2] == 3):
            desc = f'{frame.dtype} {frame.shape}' if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f'a frame must be an (H, W, 3) uint8 BGR array, got {desc}')
        if self._shape is None:
            self._open(frame.shape)
        elif frame.shape != self._shape:
            raise ValueError(f'frame of shape {frame.shape} in a video of {self._shape} frames')
        frame = even_frame(frame)
        if self._proc is not None:
            try:
                self._proc.stdin.write(frame.tobytes())
            except OSError as e:  # ffmpeg has exited: report its own error
                self.abort()
                raise VideoWriteError(f'{self.path}: ffmpeg stopped writing: {self._ffmpeg_error(e)}') from e
        else:
            self._cv_writer.write(frame)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file. Raises :class:`VideoWriteError` if the encoder failed."""
        if self._closed:
            return
        self._closed = True
        if self._proc is not None:
            try:
                self._proc.stdin.close()
            except OSError:  # ffmpeg has exited; its exit code and message tell why
                pass
            code = self._proc.wait()
            error = self._ffmpeg_error(None) if code else None
            self._stderr.close()
            if code:
                raise VideoWriteError(f'{self.path}: ffmpeg failed (exit {code}): {error}')
        elif self._cv_writer is not None:
            self._cv_writer.release()
            if not os.path.isfile(self.path) or os.path.getsize(self.path) == 0:
                raise VideoWriteError(f'{self.path}: OpenCV wrote no video')

    def abort(self) -> None:
        """Stop the encoder without finishing the file (which may be left partial or missing)."""
        self._closed = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._cv_writer is not None:
            self._cv_writer.release()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open(self, shape: tuple) -> None:
        self._shape = shape
        width, height = shape[1] + shape[1] % 2, shape[0] + shape[0] % 2
        self.frame_size = (width, height)
        if self._ffmpeg:
            rate = Fraction(self.fps).limit_denominator(10000)
            cmd = [self._ffmpeg, '-hide_banner', '-loglevel', 'error', '-y',
                   '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', f'{width}x{height}', '-r', str(rate), '-i', '-',
                   '-an', '-c:v', 'libx264', '-crf', str(self.crf), '-pix_fmt', 'yuv420p',
                   '-movflags', '+faststart', self.path]
            # stderr to a file, not a pipe: a pipe nobody reads would block ffmpeg once full
            self._stderr = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=self._stderr)
        else:
            import cv2
            self._cv_writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*self._fourcc), self.fps,
                                              (width, height))
            if not self._cv_writer.isOpened():
                self._closed = True
                raise VideoWriteError(f'{self.path}: OpenCV cannot write {self._fourcc} video here')

    def _ffmpeg_error(self, fallback: Optional[BaseException]) -> str:
        """The last line ffmpeg printed (it prints errors only), else ``fallback``."""
        if self._proc is not None:
            self._proc.wait()
        self._stderr.seek(0)
        lines = [ln.strip() for ln in self._stderr.read().decode(errors='replace').splitlines() if ln.strip()]
        return lines[-1] if lines else str(fallback or 'no message')


def read_video_info(path: Union[str, Path]) -> dict:
    """``codec``, ``pix_fmt`` (e.g. ``'yuv420p'``), ``size`` (w, h), ``fps`` and ``frames`` of a video,
    read back by imageio-ffmpeg's ffmpeg (the one :class:`VideoWriter` encodes with)."""
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    finally:
        reader.close()
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return dict(codec=meta['codec'], pix_fmt=meta['pix_fmt'].split('(')[0], size=tuple(meta['size']),
                fps=meta['fps'], frames=frames)
