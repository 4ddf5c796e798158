from .video_data_preprocessor import SeqFormerDataPreprocessor

__all__ = ['SeqFormerDataPreprocessor']
