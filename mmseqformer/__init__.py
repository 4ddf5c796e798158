"""mmseqformer: SeqFormer video instance segmentation on mmdet/mmcv/mmengine."""
import mmcv
import mmengine
from mmengine.utils import digit_version

from .version import __version__, version_info

mmcv_minimum_version = '2.0.0rc4'
mmcv_maximum_version = '2.2.0'
mmengine_minimum_version = '0.7.1'
mmengine_maximum_version = '1.0.0'

_mmcv_version = digit_version(mmcv.__version__)
assert (digit_version(mmcv_minimum_version) <= _mmcv_version < digit_version(mmcv_maximum_version)), \
    f'MMCV=={mmcv.__version__} is used but incompatible. ' \
    f'Please install mmcv>={mmcv_minimum_version}, <{mmcv_maximum_version}.'
_mmengine_version = digit_version(mmengine.__version__)
assert (digit_version(mmengine_minimum_version) <= _mmengine_version < digit_version(mmengine_maximum_version)), \
    f'MMEngine=={mmengine.__version__} is used but incompatible. ' \
    f'Please install mmengine>={mmengine_minimum_version}, <{mmengine_maximum_version}.'

from .utils import apply_compat_patches  # noqa: E402

apply_compat_patches()

# Importing the subpackages registers every component into mmdet's registries.
from . import apis, datasets, deploy, engine, evaluation, models, visualization  # noqa: E402,F401

__all__ = ['__version__', 'version_info']
