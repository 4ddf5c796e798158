"""Track data preprocessor that pads differently for training and inference."""
from mmdet.models.data_preprocessors import TrackDataPreprocessor
from mmdet.registry import MODELS

from ...utils import register_deprecated_alias


@MODELS.register_module()
class VideoDataPreprocessor(TrackDataPreprocessor):
    """``TrackDataPreprocessor`` with a separate size divisor at test time.

    Clip models such as SeqFormer pad training batches to a multiple of 32 but feed test videos unpadded
    (size divisor 1, as the official SeqFormer); padding would change GroupNorm statistics, positional
    encodings and masks.

    Args:
        test_pad_size_divisor: divisor used when ``training`` is False (default 1).
        **kwargs: ``TrackDataPreprocessor`` arguments; ``pad_size_divisor`` applies to training.
    """

    def __init__(self, *args, test_pad_size_divisor: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.test_pad_size_divisor = test_pad_size_divisor

    def forward(self, data: dict, training: bool = False) -> dict:
        train_divisor = self.pad_size_divisor
        if not training:
            self.pad_size_divisor = self.test_pad_size_divisor
        try:
            return super().forward(data, training)
        finally:
            self.pad_size_divisor = train_divisor


SeqFormerDataPreprocessor = register_deprecated_alias(MODELS, VideoDataPreprocessor, 'SeqFormerDataPreprocessor')
