"""Run a script of ``tools/`` as a subprocess, or its ``main(argv)`` in this process with the same report.

Every tool imports mmseqformer, which takes seconds of CPU per process (torch, mmcv, mmdet); tests that run a
tool many times call it in-process and keep one real subprocess run per tool for the script's entry point.
"""
import contextlib
import importlib.util
import io
import os.path as osp
import subprocess
import sys
from typing import Any, Dict

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
_loaded: Dict[str, Any] = {}


def tool_path(script: str) -> str:
    """``tools/<script>`` (e.g. ``dataset_converters/youtubevis2coco.py``) as an absolute path."""
    return osp.join(REPO, 'tools', script)


def run_script(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python tools/<script> args`` from the repository root."""
    return subprocess.run([sys.executable, tool_path(script), *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


def run_in_process(script: str, *args: str) -> subprocess.CompletedProcess:
    """``main(list(args))`` of ``tools/<script>``: exit status, stdout and stderr as :func:`run_script` gives them.

    argparse's exits (``SystemExit``) become the exit status; any other exception the tool lets through is
    raised here (a subprocess would print its traceback and exit with 1).
    """
    if script not in _loaded:
        spec = importlib.util.spec_from_file_location(f'_tool_{osp.splitext(osp.basename(script))[0]}',
                                                      tool_path(script))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[script] = module
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = _loaded[script].main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())
