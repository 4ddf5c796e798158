"""The package layering of docs (architecture: who may import whom), component registration and code sizes.

The import check reads every module of ``mmseqformer/`` with ``ast`` (absolute and relative imports, also those
inside functions) and checks each import between two parts of the package against :data:`ALLOWED` below.
"""
import ast
import json
import os.path as osp
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

REPO = Path(__file__).resolve().parent.parent
PACKAGE = 'mmseqformer'

# What each part of the package may import besides itself. A part is a top-level subpackage (or module) of
# mmseqformer, or a subpackage of models/; '<root>' is mmseqformer/__init__.py, which imports the registering
# subpackages so that custom_imports=['mmseqformer'] registers every component.
ALLOWED: Dict[str, Set[str]] = {
    '<root>': {'version', 'utils', 'apis', 'datasets', 'deploy', 'engine', 'evaluation', 'models', 'visualization'},
    'version': set(),
    # leaf helpers: compat shims, atomic file writing, CLI parser, profiling
    'utils': set(),
    # the models never know the inference API, the data, the metrics, the runner or the drawing
    'models': {'utils'},
    # datasets do not know the model, nor the offline converters that write their files
    'datasets': {'utils'},
    # metrics read predictions, not the network
    'evaluation': {'utils', 'datasets'},
    # drawing does not import evaluation
    'visualization': {'utils'},
    'engine': {'utils', 'visualization'},
    # offline converters write files for the datasets; they never need a model or the API
    'converters': {'utils', 'datasets'},
    # exported graphs and their runtimes: behind the models' video interface, never known by the models
    'deploy': {'utils', 'models'},
    # the top of the library: reads frames, sets up runners, calls the models' interface
    'apis': {'utils', 'models', 'datasets', 'deploy', 'evaluation', 'engine', 'visualization'},
}
# Inside models/: layers do not know heads; the video models compose everything else.
MODELS_ALLOWED: Dict[str, Set[str]] = {
    'models': {'models.data_preprocessors', 'models.heads', 'models.layers', 'models.task_modules',
               'models.trackers', 'models.utils', 'models.vis'},
    'models.utils': set(),
    'models.data_preprocessors': {'models.utils'},
    'models.layers': {'models.utils'},
    'models.task_modules': {'models.utils'},
    'models.heads': {'models.layers', 'models.task_modules', 'models.utils'},
    'models.trackers': {'models.task_modules', 'models.utils'},
    'models.vis': {'models.data_preprocessors', 'models.heads', 'models.layers', 'models.task_modules',
                   'models.trackers', 'models.utils'},
}
SCRIPT_PACKAGES = ('tools', 'demo')  # scripts: library code never imports them


def module_of(path: Path, package_dir: Path) -> Tuple[str, bool]:
    """Dotted module name of a file of the package and whether it is a package ``__init__``."""
    parts = list(path.relative_to(package_dir.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        return '.'.join(parts[:-1]), True
    return '.'.join(parts), False


def imports_of(path: Path, package_dir: Path) -> Iterator[Tuple[int, str]]:
    """(line, imported module) for every import in ``path``, relative ones resolved; ``from X import name`` gives
    ``X.name`` when that is a module or subpackage of the package."""
    module, is_package = module_of(path, package_dir)
    current = module if is_package else module.rpartition('.')[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = current.split('.')
                base = '.'.join(base[:len(base) - node.level + 1])
                target = f'{base}.{node.module}' if node.module else base
            else:
                target = node.module
            for alias in node.names:
                sub = package_dir.parent.joinpath(*f'{target}.{alias.name}'.split('.'))
                if sub.is_dir() or sub.with_suffix('.py').is_file():
                    yield node.lineno, f'{target}.{alias.name}'
                else:
                    yield node.lineno, target


def part_of(module: str, package_dir: Path) -> str:
    """The layering part of a module of the package (see :data:`ALLOWED`)."""
    parts = module.split('.')[1:]
    if not parts:
        return '<root>'
    if parts[0] == 'models' and len(parts) > 1 and package_dir.joinpath('models', parts[1]).is_dir():
        return f'models.{parts[1]}'
    return parts[0]


def allowed(src: str, dst: str) -> bool:
    if src == dst:
        return True
    top_src, top_dst = src.split('.')[0], dst.split('.')[0]
    if top_src == top_dst == 'models':
        return dst in MODELS_ALLOWED[src]
    return top_dst in ALLOWED[top_src]


def import_violations(package_dir: Path) -> List[str]:
    """``file:line: part -> part`` for every import the tables forbid, and for parts missing from the tables."""
    found = []
    name = package_dir.name
    for path in sorted(package_dir.rglob('*.py')):
        src = part_of(module_of(path, package_dir)[0], package_dir)
        where = path.relative_to(package_dir.parent)
        if src.split('.')[0] not in ALLOWED or (src.startswith('models.') and src not in MODELS_ALLOWED):
            found.append(f'{where}: part {src} is not in the layering table')
            continue
        for lineno, target in sorted(imports_of(path, package_dir)):
            top = target.split('.')[0]
            if top in SCRIPT_PACKAGES:
                found.append(f'{where}:{lineno}: {src} -> {top} (library code never imports scripts)')
            elif top == name:
                dst = part_of(target, package_dir)
                if not allowed(src, dst):
                    found.append(f'{where}:{lineno}: {src} -> {dst}')
    return found


def test_the_package_follows_the_layering():
    assert import_violations(REPO / PACKAGE) == []


def test_a_forbidden_import_is_found(tmp_path):
    package_dir = tmp_path / PACKAGE
    shutil.copytree(REPO / PACKAGE, package_dir, ignore=shutil.ignore_patterns('__pycache__'))
    assert import_violations(package_dir) == []
    bad = {
        'utils/bad_helper.py': 'from ..models.layers import SeqFormerDecoder\n',
        'visualization/bad_drawing.py': 'def draw():\n    from mmseqformer.evaluation import DumpVISResults\n',
        'datasets/bad_dataset.py': 'from .. import converters\nimport mmseqformer.models.heads\n',
        'models/layers/bad_layer.py': 'from ..heads import seqformer_head\n',
        'converters/bad_converter.py': 'from tools.train import main\nfrom ..datasets import annotation_checks\n',
    }
    for name, text in bad.items():
        (package_dir / name).write_text(text)
    assert import_violations(package_dir) == [
        f'{PACKAGE}/converters/bad_converter.py:1: converters -> tools (library code never imports scripts)',
        f'{PACKAGE}/datasets/bad_dataset.py:1: datasets -> converters',
        f'{PACKAGE}/datasets/bad_dataset.py:2: datasets -> models.heads',
        f'{PACKAGE}/models/layers/bad_layer.py:1: models.layers -> models.heads',
        f'{PACKAGE}/utils/bad_helper.py:1: utils -> models.layers',
        f'{PACKAGE}/visualization/bad_drawing.py:2: visualization -> evaluation',
    ]
    (package_dir / 'newpart').mkdir()
    (package_dir / 'newpart' / '__init__.py').write_text('')
    assert f'{PACKAGE}/newpart/__init__.py: part newpart is not in the layering table' in import_violations(package_dir)


def registered_in_source(package_dir: Path) -> Dict[str, Set[str]]:
    """Registry name -> names that the package's source registers: classes decorated with
    ``REGISTRY.register_module(...)`` and deprecated aliases (``register_deprecated_alias(REGISTRY, cls, 'Old')``).

    Every registry used must be imported from ``mmdet.registry`` in that file.
    """
    found: Dict[str, Set[str]] = {}
    for path in sorted(package_dir.rglob('*.py')):
        tree = ast.parse(path.read_text(), str(path))
        mmdet_registries = {a.asname or a.name for node in ast.walk(tree)
                            if isinstance(node, ast.ImportFrom) and node.module == 'mmdet.registry' for a in node.names}
        for node in ast.walk(tree):
            entries = []
            if isinstance(node, ast.ClassDef):
                for dec in node.decorator_list:
                    if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
                            and dec.func.attr == 'register_module' and isinstance(dec.func.value, ast.Name)):
                        names = [k.value.value for k in dec.keywords if k.arg == 'name']
                        entries.append((dec.func.value.id, names[0] if names else node.name))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == 'register_deprecated_alias'):
                entries.append((node.args[0].id, node.args[2].value))
            for registry, name in entries:
                assert registry in mmdet_registries, f'{path}: {name} is registered in {registry}, not mmdet\'s'
                found.setdefault(registry, set()).add(name)
    return found


REGISTERED_BY_CUSTOM_IMPORTS = textwrap.dedent('''
    import json, sys
    from mmengine.config import Config
    from mmengine.registry import Registry, init_default_scope
    assert 'mmseqformer' not in sys.modules
    cfg = Config.fromfile(sys.argv[1])
    init_default_scope(cfg.default_scope)
    import mmdet.registry
    print(json.dumps({name: sorted(key for key, cls in registry.module_dict.items()
                                   if cls.__module__.split('.')[0] == 'mmseqformer')
                      for name, registry in vars(mmdet.registry).items() if isinstance(registry, Registry)}))
''')


def test_custom_imports_registers_every_component(tmp_path):
    expected = registered_in_source(REPO / PACKAGE)
    assert {'MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'METRICS', 'VISUALIZERS', 'TASK_UTILS'} <= set(expected)
    config = tmp_path / 'only_custom_imports.py'
    config.write_text("custom_imports = dict(imports=['mmseqformer'], allow_failed_imports=False)\n"
                      "default_scope = 'mmdet'\n")
    proc = subprocess.run([sys.executable, '-c', REGISTERED_BY_CUSTOM_IMPORTS, str(config)], capture_output=True,
                          text=True, cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr
    registered = {name: set(keys) for name, keys in json.loads(proc.stdout.splitlines()[-1]).items() if keys}
    assert registered == expected


MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted(p for p in (REPO / folder).rglob('*.py') if '__pycache__' not in p.parts)


def test_no_file_over_400_lines():
    long_files = {osp.relpath(p, REPO): n for p in python_files(PACKAGE, 'tools', 'demo')
                  if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert long_files == {}


def test_no_script_function_over_60_lines():
    long_functions = {}
    for path in python_files('tools', 'demo'):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions[f'{osp.relpath(path, REPO)}:{node.lineno} {node.name}'] = length
    assert long_functions == {}
