from .compat import apply_compat_patches, load_from_local
from .deprecated_alias import register_deprecated_alias

__all__ = ['apply_compat_patches', 'load_from_local', 'register_deprecated_alias']
