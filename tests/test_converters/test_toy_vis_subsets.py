"""The occluded-video subset of toy_vis: which videos (by the visible / unoccluded area rule), the written CocoVID
subset, and the tool's one-line errors."""
import json
import os.path as osp

from mmseqformer.converters import occluded_video_ids, write_video_subset

from ..test_tools.tool_helpers import run_tool, stderr_lines


def test_occluded_videos_of_the_default_valid_split(toy_vis_default):
    ids = occluded_video_ids(toy_vis_default, 'valid')
    assert ids == [1, 8, 10, 12]
    # the rule itself, recomputed from the two files: some frame with visible area < half the unoccluded one
    with open(osp.join(toy_vis_default, 'annotations', 'toy_vis_valid_ytvis.json')) as f:
        areas = {a['id']: a['areas'] for a in json.load(f)['annotations']}
    with open(osp.join(toy_vis_default, 'annotations', 'toy_vis_valid_meta.json')) as f:
        meta = json.load(f)['videos']
    ratios = {v['id']: min((s / a for i in v['instances'] for s, a in zip(areas[i['annotation_id']], i['amodal_areas'])
                            if s is not None and a), default=1.0) for v in meta}
    assert sorted(k for k, r in ratios.items() if r < 0.5) == ids
    assert occluded_video_ids(toy_vis_default, 'valid', ratio=1.0) != ids  # partial occlusions are common


def test_subset_file_holds_only_those_videos(toy_vis_default, tmp_path):
    import shutil
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_vis_default, root)
    path = write_video_subset(root, 'valid', [1, 8], 'two')
    assert path == osp.join(root, 'annotations', 'toy_vis_valid_two.json')
    with open(path) as f:
        subset = json.load(f)
    with open(osp.join(root, 'annotations', 'toy_vis_valid.json')) as f:
        full = json.load(f)
    assert [v['id'] for v in subset['videos']] == [1, 8]
    assert subset['images'] == [im for im in full['images'] if im['video_id'] in (1, 8)]
    image_ids = {im['id'] for im in subset['images']}
    assert subset['annotations'] == [a for a in full['annotations'] if a['image_id'] in image_ids]
    assert subset['categories'] == full['categories']


def test_tool_writes_the_subset_and_names_bad_input(toy_vis_default, tmp_path):
    import shutil
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_vis_default, root)
    proc = run_tool('dataset_converters/toy_vis_occluded.py', '--root', root)
    assert proc.returncode == 0, proc.stderr
    assert 'ids 1, 8, 10, 12' in proc.stdout
    assert osp.isfile(osp.join(root, 'annotations', 'toy_vis_valid_occluded.json'))
    missing = run_tool('dataset_converters/toy_vis_occluded.py', '--root', str(tmp_path / 'none'))
    assert missing.returncode == 2 and len(stderr_lines(missing)) == 1 and 'no such file' in missing.stderr
    meta = osp.join(root, 'annotations', 'toy_vis_valid_meta.json')
    with open(meta, 'w') as f:
        f.write('{"videos": [')  # truncated
    broken = run_tool('dataset_converters/toy_vis_occluded.py', '--root', root)
    assert broken.returncode == 2 and len(stderr_lines(broken)) == 1 and f'{meta}: not a json file' in broken.stderr
    with open(meta, 'w') as f:
        f.write('{"videos": [{"id": 1, "instances": [{"annotation_id": 999999}]}]}')  # another layout
    other = run_tool('dataset_converters/toy_vis_occluded.py', '--root', root)
    assert other.returncode == 2 and len(stderr_lines(other)) == 1 and 'not a toy_vis set' in other.stderr
