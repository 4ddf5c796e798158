"""Warn about top-level config keys that nothing reads but that look like a misspelt runner key."""
import difflib
from typing import Iterable, List

# The keys mmengine's Runner.from_cfg reads, plus the ones the tools and the inference API read.
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg',
    'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher', 'env_cfg',
    'log_processor', 'log_level', 'visualizer', 'default_scope', 'randomness', 'experiment_name', 'cfg',
    'custom_imports', 'model_wrapper_cfg', 'vis_backends', 'find_unused_parameters', 'compile', 'strategy')


def suspicious_keys(keys: Iterable[str], known: Iterable[str] = RUNNER_KEYS) -> List[str]:
    """One message per key that is not known but close to a known key (e.g. ``train_dataloder``).

    mm configs also hold free helper variables (``dims``, ``train_pipeline``, ``backend_args``...), so only keys
    within a small edit distance of a runner key are reported; they are almost certainly typos that would
    otherwise be ignored without a word.
    """
    known = tuple(known)
    messages = []
    for key in keys:
        if key in known or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if close:
            messages.append(f'unknown top-level config key {key!r} is ignored (did you mean {close[0]!r}?)')
    return messages
