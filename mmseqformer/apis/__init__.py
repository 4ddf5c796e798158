"""Inference API: :func:`init_model`, :func:`inference_video` and the streaming :func:`iter_video_results`."""
from .checkpoint import CheckpointError, check_model_checkpoint, load_model_checkpoint
from .inference import ConfigError, FramePreprocessor, inference_video, init_model, iter_video_results
from .video_source import VideoInputError, VideoSource

__all__ = ['init_model', 'inference_video', 'iter_video_results', 'FramePreprocessor', 'VideoSource',
           'VideoInputError', 'CheckpointError', 'ConfigError', 'check_model_checkpoint', 'load_model_checkpoint']
