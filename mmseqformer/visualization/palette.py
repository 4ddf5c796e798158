"""Instance colours for mmdet's track visualizer when seaborn is not installed."""
import types

# seaborn's default ("deep") palette, the colours TrackLocalVisualizer uses when seaborn is installed
_DEEP = ('4C72B0', 'DD8452', '55A868', 'C44E52', '8172B3', '937860', 'DA8BC3', '8C8C8C', 'CCB974', '64B5CD')


def ensure_palette() -> None:
    """Give mmdet's track visualizer seaborn's default palette when seaborn is not installed.

    ``TrackLocalVisualizer`` picks instance colours from ``seaborn.color_palette()`` and raises without seaborn,
    which mmdet does not require.
    """
    from mmdet.visualization import local_visualizer
    if local_visualizer.sns is None:
        palette = [tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)) for h in _DEEP]
        local_visualizer.sns = types.SimpleNamespace(color_palette=lambda: list(palette))
