__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """'0.1.0rc1' -> (0, 1, 0, 'rc1')."""
    parts = []
    for x in version_str.split('.'):
        if x.isdigit():
            parts.append(int(x))
        elif 'rc' in x:
            num, rc = x.split('rc')
            parts += [int(num), f'rc{rc}']
    return tuple(parts)


version_info = parse_version_info(__version__)
