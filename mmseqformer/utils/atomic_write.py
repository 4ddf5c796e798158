"""Files that appear complete or not at all: written to a temporary name next to the target, then renamed."""
import json
import os
import os.path as osp
import tempfile
from typing import Any


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path`` and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(osp.abspath(path)), prefix=f'.{osp.basename(path)}.')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def remove_quietly(path: str) -> None:
    """Remove ``path``, ignoring a file that is already gone (or cannot be removed)."""
    try:
        os.remove(path)
    except OSError:
        pass


def dump_json_to_temp(obj: Any, path: str) -> str:
    """Write ``obj`` as compact json to a new temporary file next to ``path``; returns its name.

    The caller renames it into place (``os.replace``), e.g. once several outputs are all ready; on failure
    nothing is left behind. The file gets the permissions of a plainly created one, not mkstemp's 0600.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(obj, f, separators=(',', ':'))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except BaseException:
        remove_quietly(tmp)
        raise
    return tmp


def dump_json_atomic(obj: Any, path: str) -> None:
    """Write ``obj`` as json to a temporary file next to ``path`` and rename it into place."""
    tmp = dump_json_to_temp(obj, path)
    try:
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def save_torch_atomic(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file next to ``path`` (default permissions), then rename it over ``path``;
    a failed write leaves no partial file. Missing folders are made."""
    import torch

    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'xb') as f:  # not mkstemp: its files are 0600
            torch.save(obj, f)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
