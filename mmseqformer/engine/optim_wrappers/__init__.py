from .autocast_optim_wrapper import AutocastOptimWrapper, use_mixed_precision

__all__ = ['AutocastOptimWrapper', 'use_mixed_precision']
