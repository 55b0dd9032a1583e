# Copyright (c) mmcast contributors. All rights reserved.
"""tools/analysis_tools/toy_ablation.py: the toy Table 3a is built from the
rows' own configs and reports every row before and after tuning."""
import json

import pytest

from tests.conftest import load_tool

ROWS = ('vit_s', 'vit_s_graphpool', 'cast_s_nopool', 'cast_s')


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/analysis_tools/toy_ablation.py')


@pytest.mark.parametrize('row', ROWS)
def test_toy_models_are_the_rows_configs_shrunk(tool, row):
    args = tool.parse_args(['--out', 'x.json'])
    moco = tool.moco_model(row, args)
    base = tool.row_config(row, 'mocov3_coco').model
    assert moco['type'] == 'MoCoV3' and moco['neck']['in_channels'] == 64
    assert moco['backbone']['type'] == base.backbone.type
    retrieval, metric = tool.retrieval_model(row, args)
    assert retrieval['type'] == tool.row_config(
        row, 'voc_retrieval').model.type
    assert metric == dict(type='SegmentRetrievalMetric', level=8, k=20)
    transfer, metrics = tool.transfer_model(row, args)
    assert transfer['decode_head']['type'] == tool.row_config(
        row, 'voc_transfer').model.decode_head.type
    assert [m['type'] for m in metrics] == ['IoUMetric', 'BoundaryFMetric']
    backbone = moco['backbone']
    if row.startswith('cast_s'):
        assert backbone['arch'] == dict(embed_dims=64, depths=[1, 1, 1, 1],
                                        num_heads=2)
        assert ('pooling' in backbone and backbone['pooling'] is None) == (
            row == 'cast_s_nopool')
    else:
        layers = backbone['vit']['arch']['num_layers']
        assert layers == (4 if row == 'vit_s' else 1)
        assert backbone['vit']['patch_size'] == 8
        if row == 'vit_s_graphpool':
            assert backbone['neck']['depths'] == (0, 1, 1, 1)


@pytest.mark.slow
def test_toy_ablation_reports_every_row(tool, tmp_path, capsys):
    out = tmp_path / 'toy.json'
    report = tool.main([
        '--out', str(out), '--steps', '2', '--finetune-steps', '2',
        '--train-images', '24', '--bank-images', '6', '--val-images', '4',
        '--views', '12', '--batch-size', '4', '--finetune-batch-size', '2',
        '--size', '64', '--view-size', '64', '--embed-dims', '32',
        '--threads', '1'
    ])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(report))
    assert list(saved['rows']) == list(ROWS)
    for row in ROWS:
        r = saved['rows'][row]
        for when in ('before', 'after'):
            for key in ('region_miou', 'boundary_f'):
                assert 0 <= r[when][key] <= 1
        assert set(r['phase_seconds']) == {'pretrain', 'retrieval',
                                           'transfer'}
        assert saved['paper'][row]['before']['region_miou'] > 0.3
    printed = capsys.readouterr().out
    assert 'order by before-tuning mIoU' in printed
    assert '(38.4)' in printed  # the paper's CAST-S beside the toy
