"""Encoder outputs of consecutive frames of one video, read from a frame iterator and encoded chunk by chunk.

Clip models encode frames independently (backbone, neck, per-frame encoder), so encoding a video a chunk at a
time gives the whole-video result while only one chunk's backbone features exist at a time. Outputs go into
buffers preallocated for the expected frame count (growing by doubling): concatenating chunk outputs would
briefly hold them twice. Frames no later window needs can be released, which bounds windowed decoding.
"""
from typing import Dict, Iterator, Optional, Sequence

import torch
from torch import Tensor, nn


class EncodedFrames:
    """Per-frame encoder outputs of frames ``[offset, offset + num)`` of a video.

    Args:
        per_frame_keys: the encoder outputs with one row per frame; other entries are shared by all frames.
        capacity: expected number of frames held at once.
    """

    def __init__(self, per_frame_keys: Sequence[str], capacity: int) -> None:
        self.keys = tuple(per_frame_keys)
        self.capacity = max(1, capacity)
        self.offset = 0  # video index of row 0
        self.num = 0  # frames held
        self.shared: Optional[dict] = None
        self.buffers: Dict[str, Tensor] = {}

    @property
    def end(self) -> int:
        """Video index after the last frame held."""
        return self.offset + self.num

    def add(self, enc: dict) -> None:
        """Append the encoder outputs of the next t frames (``enc[key]`` is (t, ...) for the per-frame keys)."""
        if self.shared is None:
            self.keys = tuple(k for k in self.keys if enc.get(k) is not None)  # e.g. no padding mask
            self.shared = {k: v for k, v in enc.items() if k not in self.keys}
            self.buffers = {k: enc[k].new_empty((self.capacity, *enc[k].shape[1:])) for k in self.keys}
        t = enc[self.keys[0]].shape[0]
        while self.num + t > self.capacity:  # more frames than expected
            self.capacity *= 2
            for key, buf in self.buffers.items():
                grown = buf.new_empty((self.capacity, *buf.shape[1:]))
                grown[:self.num] = buf[:self.num]
                self.buffers[key] = grown
        for key, buf in self.buffers.items():
            buf[self.num:self.num + t] = enc[key]
        self.num += t

    def release_before(self, frame: int) -> None:
        """Forget the frames before video index ``frame``; views returned earlier become invalid."""
        drop = min(frame - self.offset, self.num)
        if drop <= 0:
            return
        keep = self.num - drop
        for buf in self.buffers.values():
            buf[:keep] = buf[drop:self.num].clone()
        self.offset += drop
        self.num = keep

    def view(self, start: int, stop: int) -> dict:
        """The encoder-output dict of video frames ``[start, stop)`` (views into the buffers, no copy)."""
        if start < self.offset or stop > self.end:
            raise IndexError(f'frames [{start}, {stop}) are not held (held: [{self.offset}, {self.end}))')
        rows = slice(start - self.offset, stop - self.offset)
        return dict(self.shared, **{k: buf[rows] for k, buf in self.buffers.items()})


class FrameEncoder:
    """Reads frames from an iterator and encodes them ``chunk_size`` at a time into :class:`EncodedFrames`.

    Chunks always start at multiples of ``chunk_size``, so a video's encoding does not depend on how far ahead a
    caller reads.

    Args:
        model: an offline clip model (its ``encode_frames`` and ``per_frame_keys``).
        frames: (3, h, w) normalized frames, one size. chunk_size: frames encoded together.
        capacity: expected frames held at once.
    """

    def __init__(self, model: nn.Module, frames: Iterator[Tensor], chunk_size: int, capacity: int) -> None:
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
        self.model, self.frames, self.chunk_size = model, iter(frames), chunk_size
        self.encoded = EncodedFrames(model.per_frame_keys, capacity)
        self.ended = False

    @property
    def num_read(self) -> int:
        """Frames read (and encoded) so far: the video's length once :attr:`ended`."""
        return self.encoded.end

    @torch.no_grad()
    def read_until(self, stop: Optional[int] = None) -> None:
        """Read and encode whole chunks until at least ``stop`` frames are encoded (None: all) or the video ends."""
        while not self.ended and (stop is None or self.num_read < stop):
            chunk = []
            for frame in self.frames:
                chunk.append(frame)
                if len(chunk) == self.chunk_size:
                    break
            if len(chunk) < self.chunk_size:
                self.ended = True
            if chunk:
                self.encoded.add(self.model.encode_frames(torch.stack(chunk)))

    @classmethod
    def from_encoding(cls, model: nn.Module, enc: dict) -> 'FrameEncoder':
        """An ended encoder holding an already encoded video (e.g. one video of a padded batch)."""
        encoder = cls(model, iter(()), 1, enc[model.per_frame_keys[0]].shape[0])
        encoder.encoded.add(enc)
        encoder.ended = True
        return encoder
