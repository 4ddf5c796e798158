"""Command-line helpers shared by the scripts in ``tools/``: bad input is one error line and exit status 2."""
import argparse
import os.path as osp
from typing import NoReturn


class CliError(Exception):
    """A user error: reported as one line ``<prog>: error: <message>`` on stderr with exit status 2."""


def check_conversion_paths(src: str, dst: str, overwrite: bool) -> None:
    """Raise :class:`CliError` unless ``src`` is a file and ``dst`` may be written (absent, or ``overwrite``)."""
    if not osp.isfile(src):
        raise CliError(f'{src}: no such file')
    if osp.exists(dst) and not overwrite:
        raise CliError(f'{dst} exists (pass --overwrite to replace it)')


class ToolArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line ``<prog>: error: <message>`` and exit status 2.

    argparse prints its usage block before the error; the tools promise one line (``--help`` still shows it).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f'{self.prog}: error: {message}\n')


class KeyValueAction(argparse.Action):
    """``k=v`` pairs (``nargs='+'``), checked here and stored as the list of strings.

    The values are parsed by mmengine's ``DictAction`` when they are merged into the config.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values:
            if '=' not in kv or not kv.split('=', 1)[0]:
                parser.error(f'{option_string} expects key=value pairs, got {kv!r}')
        setattr(namespace, self.dest, list(values))
