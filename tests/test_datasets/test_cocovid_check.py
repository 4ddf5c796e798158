import copy
import json

import pytest
from mmengine.config import Config

from mmseqformer.datasets import YTVISFormatError, check_cocovid, check_config_annotations
from mmseqformer.datasets.cocovid_check import dataset_annotation_files


def cocovid():
    """Two videos (2 and 1 frames, 64x48), one instance on every frame of the first."""
    images = [dict(id=i + 1, video_id=v, frame_id=f, width=64, height=48, file_name=f'v{v}/{f}.jpg')
              for i, (v, f) in enumerate([(1, 0), (1, 1), (2, 0)])]
    anns = [dict(id=a, video_id=1, image_id=a, category_id=2, instance_id=1, bbox=[10, 5, 20, 10], area=200,
                 iscrowd=0, segmentation=[[10, 5, 30, 5, 30, 15, 10, 15]]) for a in (1, 2)]
    anns[1]['segmentation'] = dict(size=[48, 64], counts='PPYo1')
    return dict(videos=[dict(id=1, name='v1'), dict(id=2, name='v2')], images=images, annotations=anns,
                categories=[dict(id=1, name='a'), dict(id=2, name='b')])


def test_valid_files_pass():
    check_cocovid(cocovid(), 'x.json')
    data = cocovid()
    del data['annotations']  # a test split
    check_cocovid(data, 'x.json')


def edit(path, value):
    data = cocovid()
    *keys, last = path
    obj = data
    for k in keys:
        obj = obj[k]
    if value is KeyError:
        del obj[last]
    else:
        obj[last] = value
    return data


@pytest.mark.parametrize('path,value,words', [
    (('images',), KeyError, 'the top level lacks key(s) images'),
    (('annotations',), {}, '"annotations" is not a list'),
    (('images', 0, 'file_name'), KeyError, 'image #0 lacks key(s) file_name'),
    (('images', 2, 'video_id'), 9, 'image 3 refers to unknown video 9'),
    (('images', 0, 'width'), 0, 'image 1 has width 0, not a positive integer'),
    (('images', 1, 'frame_id'), 2, 'video 1 has frame ids [0, 2], not 0..1 once each'),
    (('images', 1, 'frame_id'), 0, 'video 1 has frame ids [0, 0]'),
    (('images', 1, 'id'), 1, 'duplicate image id 1'),
    (('annotations', 0, 'instance_id'), KeyError, 'annotation #0 lacks key(s) instance_id'),
    (('annotations', 0, 'image_id'), 99, 'annotation 1 refers to unknown image 99'),
    (('annotations', 0, 'video_id'), 2, 'annotation 1 (video 1) frame 0: its video_id 2 is not its image\'s'),
    (('annotations', 1, 'category_id'), 5, 'annotation 2 (video 1) frame 1 refers to unknown category 5'),
    (('annotations', 0, 'bbox'), [10, 5, 20], 'box [10, 5, 20] is not [x, y, w, h]'),
    (('annotations', 0, 'bbox'), [10, 5, 0, 10], 'non-positive width or height'),
    (('annotations', 0, 'bbox'), [50, 5, 20, 10], 'lies outside the 64x48 image'),
    (('annotations', 0, 'segmentation'), [[10, 5, 30, 5]], 'degenerate polygon (4 numbers'),
    (('annotations', 0, 'segmentation'), [], 'empty polygon list'),
    (('annotations', 0, 'segmentation'), [[10, 5, 30, 15, 30, 5, 10, 15]], 'self-intersecting polygon'),
    (('annotations', 1, 'segmentation'), dict(size=[64, 48], counts='PPYo1'), 'RLE size [64, 48] differs'),
    (('annotations', 1, 'id'), 1, 'duplicate annotation id 1'),
], ids=lambda x: None)
def test_problems_name_the_file_and_the_item(path, value, words):
    with pytest.raises(YTVISFormatError) as info:
        check_cocovid(edit(path, value), 'ann/x.json')
    assert str(info.value).startswith('ann/x.json: ') and words in str(info.value), str(info.value)


def test_box_within_one_pixel_of_the_border_passes():
    data = cocovid()
    data['annotations'][0]['bbox'] = [-0.5, 5, 65, 10]
    check_cocovid(data, 'x.json')


def test_config_files_are_found_through_wrappers_and_data_root(tmp_path):
    good, plain = tmp_path / 'good.json', tmp_path / 'coco.json'
    good.write_text(json.dumps(cocovid()))
    plain.write_text(json.dumps(dict(images=[], annotations=[], categories=[])))  # plain COCO: skipped
    bad = copy.deepcopy(cocovid())
    bad['images'][2]['video_id'] = 3
    (tmp_path / 'bad.json').write_text(json.dumps(bad))
    joint = dict(type='ConcatDataset', datasets=[
        dict(type='YouTubeVISDataset', data_root=str(tmp_path), ann_file='good.json'),
        dict(type='RepeatDataset', dataset=dict(type='CocoPseudoVideoDataset', ann_file=str(plain)))])
    assert list(dataset_annotation_files(joint)) == [str(good), str(plain)]
    cfg = Config(dict(train_dataloader=dict(dataset=joint),
                      val_dataloader=dict(dataset=dict(data_root=str(tmp_path), ann_file='good.json')),
                      test_dataloader=dict(dataset=dict(data_root=str(tmp_path), ann_file='bad.json'))))
    assert check_config_annotations(cfg, ('train_dataloader', 'val_dataloader')) == [str(good)]
    with pytest.raises(YTVISFormatError, match=r'bad\.json: image 3 refers to unknown video 3'):
        check_config_annotations(cfg)
    (tmp_path / 'bad.json').write_text('{"videos": [')
    with pytest.raises(YTVISFormatError, match=r'bad\.json: not valid JSON'):
        check_config_annotations(cfg, ('test_dataloader',))


def test_shipped_toy_annotations_pass(toy_vis_small):
    for split in ('train', 'valid'):
        path = f'{toy_vis_small}/annotations/toy_vis_{split}.json'
        with open(path) as f:
            check_cocovid(json.load(f), path)
