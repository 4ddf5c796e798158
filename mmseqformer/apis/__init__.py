"""Inference API: :func:`init_model`, :func:`inference_video` and the streaming :func:`iter_video_results`."""
from .checkpoint import CheckpointError, check_model_checkpoint, load_model_checkpoint
from .inference import ConfigError, inference_video, init_model, iter_video_results
from .video_source import VideoInputError, VideoSource
from .window_linking import WindowLinker

__all__ = ['init_model', 'inference_video', 'iter_video_results', 'VideoSource',
           'VideoInputError', 'CheckpointError', 'ConfigError', 'check_model_checkpoint', 'load_model_checkpoint',
           'WindowLinker']
