"""Bad input to the inference API: one specific exception type per problem, naming the file and the problem."""
import cv2
import numpy as np
import pytest

from mmseqformer.apis import ConfigError, VideoInputError, VideoSource, init_model, iter_video_results

from .conftest import TOY_CONFIG


def write_config(path, text):
    path.write_text(f'_base_ = {TOY_CONFIG!r}\n' + text)
    return str(path)


@pytest.mark.parametrize('text,match', [
    ('model = dict(type="NoSuchModel")\n', 'NoSuchModel'),
    ('model = dict(bad_argument=1)\n', 'bad_argument'),
    ('model = dict(\n', 'cannot load the config'),
])
def test_config_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        init_model(write_config(tmp_path / 'c.py', text))


def test_misspelt_top_level_key_warns(tmp_path):
    path = write_config(tmp_path / 'c.py', 'train_dataloder = dict(batch_size=1)\n')
    with pytest.warns(UserWarning, match=r"'train_dataloder' is ignored \(did you mean 'train_dataloader'\?\)"):
        init_model(path)


@pytest.fixture(scope='module')
def random_toy_model():
    return init_model(TOY_CONFIG)


@pytest.mark.parametrize('hw', [(16, 64), (40, 9000)])
def test_frames_too_small_or_too_elongated(random_toy_model, hw):
    frames = [np.zeros((*hw, 3), np.uint8)] * 2
    with pytest.raises(VideoInputError, match=rf'frames are {hw[0]}x{hw[1]} at network size; each side must be'):
        list(iter_video_results(random_toy_model, frames))


def test_video_source_errors(tmp_path):
    with pytest.raises(VideoInputError, match='no such file'):
        list(VideoSource(str(tmp_path / 'missing.mp4')))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(VideoInputError, match='empty'):
        list(VideoSource(str(empty)))
    (tmp_path / 'zero.mp4').write_bytes(b'')
    with pytest.raises(VideoInputError, match='zero.mp4'):
        list(VideoSource(str(tmp_path / 'zero.mp4')))
    mixed = tmp_path / 'mixed'
    mixed.mkdir()
    cv2.imwrite(str(mixed / '0.png'), np.zeros((40, 60, 3), np.uint8))
    cv2.imwrite(str(mixed / '1.png'), np.zeros((40, 62, 3), np.uint8))
    with pytest.raises(VideoInputError, match='1.png'):
        list(VideoSource(str(mixed)))
    with pytest.raises(VideoInputError):
        list(VideoSource([np.zeros((40, 60, 3), np.uint8), np.zeros((41, 60, 3), np.uint8)]))
