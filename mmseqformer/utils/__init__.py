from .compat import apply_compat_patches, load_from_local

__all__ = ['apply_compat_patches', 'load_from_local']
