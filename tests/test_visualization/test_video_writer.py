"""VideoWriter: browser-playable H.264 mp4 through imageio-ffmpeg, OpenCV only as a named fallback."""
from __future__ import annotations

import sys

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from mmseqformer.visualization import video_writer
from mmseqformer.visualization.video_writer import (H264_BACKEND, VideoWriteError, VideoWriter, even_frame,
                                                    read_video_info)

ODD_H, ODD_W = 33, 47  # both odd: written as 34 x 48


def odd_frames(n: int = 5) -> list:
    """``n`` (33, 47, 3) uint8 frames, each a different flat colour with a bright last row and column."""
    frames = []
    for k in range(n):
        frame = np.full((ODD_H, ODD_W, 3), (40 * k, 80, 200 - 30 * k), np.uint8)
        frame[-1] = 230
        frame[:, -1] = 230
        frames.append(frame)
    return frames


def write(path, frames, fps: float = 7.5, **kwargs) -> VideoWriter:
    writer = VideoWriter(path, fps, **kwargs)
    for frame in frames:
        writer.write(frame)
    writer.close()
    return writer


def opencv_info(path) -> dict:
    cap = cv2.VideoCapture(str(path))
    try:
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, 'little').decode()
        return dict(fourcc=fourcc, frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
                    size=(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))))
    finally:
        cap.release()


def test_mp4_is_h264_yuv420p_with_even_size(tmp_path):
    out = tmp_path / 'clip.mp4'
    writer = write(out, odd_frames(5))
    assert writer.backend == H264_BACKEND == 'imageio-ffmpeg (libx264)'
    assert writer.fallback_reason is None
    assert writer.frame_size == (ODD_W + 1, ODD_H + 1) and writer.frames_written == 5

    reader = imageio_ffmpeg.read_frames(str(out))  # read back by the library that wrote it
    meta = next(reader)
    reader.close()
    assert meta['codec'] == 'h264'
    assert meta['pix_fmt'].split('(')[0] == 'yuv420p'
    assert tuple(meta['size']) == (48, 34)
    assert read_video_info(out) == dict(codec='h264', pix_fmt='yuv420p', size=(48, 34), fps=7.5, frames=5)
    data = out.read_bytes()
    assert data.index(b'moov') < data.index(b'mdat')  # +faststart: the index comes first


def test_odd_sides_are_padded_with_the_last_row_and_column(tmp_path):
    out = tmp_path / 'clip.mp4'
    frames = odd_frames(2)
    write(out, frames, crf=0)
    reader = imageio_ffmpeg.read_frames(str(out), pix_fmt='bgr24')
    next(reader)
    decoded = [np.frombuffer(buf, np.uint8).reshape(34, 48, 3) for buf in reader]
    assert len(decoded) == 2
    for got, sent in zip(decoded, frames):
        # 4:2:0 chroma rounds a little even at crf 0
        assert np.abs(got[:ODD_H, :ODD_W].astype(int) - sent).max() <= 6
        assert np.abs(got[-1].astype(int) - got[-2]).max() <= 6  # the padded row repeats row 32 (bright)
        assert np.abs(got[:, -1].astype(int) - got[:, -2]).max() <= 6
    assert even_frame(frames[0]).shape == (34, 48, 3)
    assert even_frame(frames[0][:-1, :-1]).shape == (32, 46, 3)  # even sizes are left alone


def test_without_imageio_ffmpeg_opencv_writes_and_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'imageio_ffmpeg', None)  # `import imageio_ffmpeg` raises ImportError
    out = tmp_path / 'clip.mp4'
    writer = write(out, odd_frames(5))
    assert writer.backend == 'OpenCV (mp4v)'
    assert 'imageio-ffmpeg is not installed' in writer.fallback_reason
    info = opencv_info(out)
    assert info['fourcc'] in ('FMP4', 'mp4v') and info['frames'] == 5 and info['size'] == (48, 34)


def test_ffmpeg_without_libx264_falls_back_to_opencv(tmp_path, monkeypatch):
    monkeypatch.setattr(video_writer, '_has_libx264', lambda ffmpeg: False)
    writer = write(tmp_path / 'clip.mp4', odd_frames(3))
    assert writer.backend == 'OpenCV (mp4v)'
    assert writer.fallback_reason.endswith('has no libx264 encoder')
    assert opencv_info(tmp_path / 'clip.mp4')['frames'] == 3


def test_avi_is_motion_jpeg(tmp_path):
    out = tmp_path / 'clip.avi'
    writer = write(out, odd_frames(4))
    assert writer.backend == 'OpenCV (MJPG)' and writer.fallback_reason is None
    assert opencv_info(out) == dict(fourcc='MJPG', frames=4, size=(48, 34))


@pytest.mark.parametrize('folder', ['missing', 'a_file'])
def test_unwritable_folder_is_one_clear_error(tmp_path, folder):
    (tmp_path / 'a_file').write_text('not a folder')
    out = tmp_path / folder / 'clip.mp4'
    with pytest.raises(VideoWriteError, match='does not exist or is not writable') as err:
        VideoWriter(out, 10)
    assert str(out) in str(err.value) and '\n' not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a_file']


def test_encoder_failure_is_one_line_error(tmp_path):
    out = tmp_path / 'clip.mp4'
    out.mkdir()  # ffmpeg cannot open a folder as its output
    writer = VideoWriter(out, 10)
    with pytest.raises(VideoWriteError, match='ffmpeg') as err:
        for frame in odd_frames(3):
            writer.write(frame)
        writer.close()
    assert 'Is a directory' in str(err.value) and '\n' not in str(err.value)


def test_bad_arguments_and_frames(tmp_path):
    with pytest.raises(ValueError, match=r'\.mp4 or \.avi'):
        VideoWriter(tmp_path / 'clip.mkv', 10)
    for fps in (0, -1.0, float('nan'), '25'):
        with pytest.raises(ValueError, match='fps'):
            VideoWriter(tmp_path / 'clip.mp4', fps)
    writer = VideoWriter(tmp_path / 'clip.mp4', 10)
    assert writer.frame_size is None and not (tmp_path / 'clip.mp4').exists()  # opened on the first frame
    writer.write(odd_frames(1)[0])
    with pytest.raises(ValueError, match='shape'):
        writer.write(np.zeros((ODD_H + 1, ODD_W, 3), np.uint8))
    with pytest.raises(ValueError, match='uint8'):
        writer.write(np.zeros((ODD_H, ODD_W, 3), np.float32))
    writer.close()
    with pytest.raises(VideoWriteError, match='closed'):
        writer.write(odd_frames(1)[0])
