"""Keep a renamed registered class buildable under its old name, with a deprecation warning."""
import logging
import warnings
from typing import Set

from mmengine.logging import print_log
from mmengine.registry import Registry

_logged: Set[str] = set()


def deprecated_alias_message(old_name: str, new_name: str) -> str:
    """The warning text of a deprecated registry alias."""
    return f"'{old_name}' is deprecated and will be removed; use '{new_name}' (same arguments) instead"


def register_deprecated_alias(registry: Registry, cls: type, old_name: str) -> type:
    """Register a subclass of ``cls`` as ``old_name`` that warns when it is constructed.

    Configs and checkpoints' stored configs written with the old name keep building: the alias takes the
    same arguments and behaves exactly as ``cls``. Every construction raises a ``DeprecationWarning``
    naming ``cls``; as Python hides those outside ``__main__``, the first one per name is also logged on
    mmengine's current logger (the training log).

    The alias's ``__module__`` is that of ``cls``: bind the returned class to ``old_name`` in that module
    so that its instances pickle (dataloader workers, ``copy.deepcopy``).

    Args:
        registry: the registry ``cls`` is registered in.
        cls: the class under its new name.
        old_name: the name to keep registered.

    Returns:
        the alias class.
    """
    message = deprecated_alias_message(old_name, cls.__name__)

    def __init__(self, *args, **kwargs) -> None:
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        if old_name not in _logged:
            _logged.add(old_name)
            print_log(message, logger='current', level=logging.WARNING)
        cls.__init__(self, *args, **kwargs)

    attrs = dict(__init__=__init__, __module__=cls.__module__, __qualname__=old_name,
                 __doc__=f'Deprecated alias of :class:`{cls.__name__}`.')
    # mmcv's avoid_cache_randomness marks only the decorated class itself, not its subclasses
    if cls.__dict__.get('_avoid_cache_randomness'):
        attrs['_avoid_cache_randomness'] = True
    alias = type(cls)(old_name, (cls,), attrs)  # the metaclass of cls (e.g. ABCMeta of transforms)
    registry.register_module(name=old_name, module=alias)
    return alias
