"""tools/analysis_tools/get_params.py on the R50 configs (numbers: seqformer_reference.md §9, VisTR: the seed
systems reference §1.7)."""
import json
import os.path as osp
import re

from tool_helpers import R50_CONFIG, REPO, run_tool, stderr_lines

from tests.tool_runner import run_in_process

# Official: 48,404,173 unique parameters for 42 classes, of which 394,752 are the encoder's never-used
# output_proj_box; 40 classes drop 6 x 2 x 257 class-head weights.
OFFICIAL_WAY = 48_404_173 - 394_752 - 6 * 2 * 257
BACKBONE_BN_AFFINE = 53_120  # 2 x 26,560 BatchNorm channels of ResNet-50


def test_r50_counts_json():
    proc = run_tool('analysis_tools/get_params.py', R50_CONFIG, '--json')
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert counts['official'] == 48_006_337 == OFFICIAL_WAY
    assert counts['total'] == 48_059_457 == OFFICIAL_WAY + BACKBONE_BN_AFFINE
    # frozen: conv1 + layer1 (222,400, as the official) plus every BatchNorm affine weight
    assert counts['trainable'] == 47_783_937 == counts['total'] - 222_400 - BACKBONE_BN_AFFINE
    modules = {row['name']: row for row in counts['modules']}
    assert sum(row['total'] for row in counts['modules']) == counts['total']
    assert modules['backbone']['official'] == 23_454_912  # official backbone breakdown
    assert modules['neck']['total'] == 5_639_168  # official input_proj
    # without the dead output_proj_box; with the 4 x 256 level embeddings (official: transformer.level_embed)
    assert modules['encoder']['total'] == 6 * (822_656 - 65_792) + 4 * 256
    assert modules['decoder']['total'] == 6 * 1_876_865
    assert modules['reference_points_fc']['total'] == 514
    assert modules['query_embedding']['total'] == 153_600
    # class + box branches, controller, mask branch
    assert modules['track_head']['total'] == 6 * 10_280 + 795_672 + 175_017 + 1_922_376


def test_r50_table_output():
    proc = run_tool('analysis_tools/get_params.py', R50_CONFIG)
    assert proc.returncode == 0, proc.stderr
    found = {label: int(num.replace(',', '')) for label, num in
             re.findall(r'^(total parameters|trainable parameters|official-way count):\s+([\d,]+)', proc.stdout,
                        re.M)}
    assert found == {'total parameters': 48_059_457, 'trainable parameters': 47_783_937,
                     'official-way count': 48_006_337}


def test_cfg_options_change_the_model():
    proc = run_tool('analysis_tools/get_params.py', R50_CONFIG, '--json', '--cfg-options',
                    'model.track_head.num_classes=42')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)['official'] == 48_404_173 - 394_752


def test_bad_input_one_line_exit_2(tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text("model = dict(type='NoSuchModel')\n")
    for i, args in enumerate((['missing_config.py'], [str(broken)], [R50_CONFIG, '--cfg-options', 'no_equals_sign'])):
        run = run_tool if i == 0 else run_in_process  # the script itself once; then without a new process
        proc = run('analysis_tools/get_params.py', *args)
        assert proc.returncode == 2, args
        assert len(stderr_lines(proc)) == 1 and 'error' in proc.stderr, (args, proc.stderr)
        assert 'Traceback' not in proc.stderr
        assert proc.stdout == ''


VISTR_BASE = osp.join(REPO, 'configs', '_base_', 'models', 'vistr_r50.py')


def test_vistr_official_counts():
    """VisTR counted the official way equals the official modules' 57,116,129 (R50) and 76,056,033 (R101)."""
    proc = run_in_process('analysis_tools/get_params.py', VISTR_BASE, '--json')
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert counts['official'] == 57_116_129 and counts['backbone_bn_affine'] == BACKBONE_BN_AFFINE
    assert counts['trainable'] == 56_893_729  # official trainable: conv1 + layer1 (222,400) frozen
    modules = {row['name']: row for row in counts['modules']}
    assert modules['backbone']['official'] == 23_454_912
    assert modules['encoder']['total'] + modules['decoder']['total'] == 29_571_840  # official transformer
    assert modules['mask_head']['total'] == 2_850_931  # official bbox_attention + mask_head + insmask_head
    assert modules['query_embedding']['total'] == 360 * 384
    proc = run_in_process('analysis_tools/get_params.py', VISTR_BASE, '--json', '--cfg-options',
                          'model.backbone.depth=101')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)['official'] == 76_056_033
