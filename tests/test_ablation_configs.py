# Copyright (c) mmcast contributors. All rights reserved.
"""The ablation configs (CAST Table 3a's four rows, Table 5's poolings):
each loads and builds, the rows differ only in the backbone, the VOC recipes
are the paper's, and each row / pooling trains a few iterations through
tools/train.py on tiny data in the real layouts and is scored by the same
metrics (segment retrieval, mIoU + boundary F after transfer, linear-probe
accuracy)."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmcast  # noqa: F401
from tests.conftest import ROOT, load_tool
from tests.evaluation_helpers import make_voc
from tests.pretrain_utils import (format_options, in100_wnids, make_coco,
                                  make_imagenet, run_tool, schedule_options,
                                  val_options)

ABLATIONS = osp.join(ROOT, 'configs', 'ablations')
CONFIGS = sorted(glob.glob(osp.join(ABLATIONS, '**', '*.py'),
                           recursive=True))
ROWS = ('vit_s', 'vit_s_graphpool', 'cast_s_nopool', 'cast_s')
TASKS = ('mocov3_coco', 'voc_retrieval', 'voc_transfer')
POOLINGS = ('kmeans', 'random_sampling', 'tome', 'graphpool_random_init')


def pipelines(cfg):
    """(loader, pipeline) of every dataset, wrappers unfolded (concat
    datasets, the retrieval dataset's bank and queries)."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        stack = [cfg.get(name, {}).get('dataset')]
        while stack:
            ds = stack.pop()
            if ds is None:
                continue
            if 'pipeline' in ds:
                yield name, ds['pipeline']
            stack += ds.get('datasets', []) + [ds.get(k) for k in (
                'dataset', 'bank', 'query')]


def row_config(row, task):
    return osp.join(ABLATIONS, 'table3a', f'{row}_{task}.py')


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, ABLATIONS) for p in CONFIGS])
def test_ablation_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['mmcast']
    for name, pipeline in pipelines(cfg):
        types = [t['type'] for t in pipeline]
        if types[-2] == 'MultiView':
            for view in pipeline[-2]['transforms']:
                assert view[-1]['type'] == 'Superpixels', (name, view)
        else:
            assert types[-2] == 'Superpixels', (name, types)
    scope = cfg.get('default_scope', 'mmseg')
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    kind = type(model.backbone).__name__
    name = osp.basename(path)
    assert kind == ('PatchTokenViT' if name.startswith('vit_s') else 'CAST')


def test_every_row_and_pooling_has_its_configs():
    for row in ROWS:
        for task in TASKS:
            assert osp.isfile(row_config(row, task)), (row, task)
    for pooling in POOLINGS:
        for task in ('mocov3_in100', 'linear_in100'):
            assert osp.isfile(osp.join(ABLATIONS, 'table5',
                                       f'cast_s_{pooling}_{task}.py'))


def _strip(cfg, keys):
    d = cfg.to_dict()
    for key in keys:
        node = d
        *path, last = key.split('.')
        for part in path:
            node = node[part]
        node.pop(last, None)
    for var in ('vit_s', 'vit_s_stage1'):
        d.pop(var, None)
    return d


@pytest.mark.parametrize('task', ['mocov3_coco', 'voc_transfer'])
def test_rows_differ_only_in_the_backbone(task):
    """Same data, schedule, objective and head for every row (the ViT row's
    transfer head is the same 2-layer 1x1 conv head on a feature map)."""
    ref = _strip(Config.fromfile(row_config('cast_s', task)),
                 ['model.backbone', 'model.decode_head'])
    for row in ROWS[:-1]:
        cfg = Config.fromfile(row_config(row, task))
        assert _strip(cfg, ['model.backbone', 'model.decode_head']) == ref
        if task == 'mocov3_coco':
            base = Config.fromfile(row_config('cast_s', task))
            assert cfg.model.neck == base.model.neck
            assert cfg.model.head == base.model.head
    nopool = Config.fromfile(row_config('cast_s_nopool', task))
    cast = Config.fromfile(row_config('cast_s', task))
    assert nopool.model.backbone.pooling is None
    nopool.model.backbone.pop('pooling')
    assert nopool.model.backbone == cast.model.backbone


def test_retrieval_rows_score_40_segments_with_the_same_metric():
    metrics = set()
    for row in ROWS:
        cfg = Config.fromfile(row_config(row, 'voc_retrieval'))
        metrics.add(json.dumps(cfg.test_evaluator, sort_keys=True))
        m = cfg.model
        if row == 'cast_s_nopool':
            assert m.backbone.pooling is None
            assert m.coarse_pool.type == 'GraphPool'
            assert m.coarse_pool.num_clusters == 40
        elif row == 'vit_s':
            assert m.type == 'ViTKMeansHierarchy'
            assert m.num_clusters[-1] == 40
        else:
            clusters = m.backbone.get('neck', m.backbone).num_clusters
            assert clusters[-1] == 40
        assert cfg.test_dataloader.dataset.type == 'SegmentRetrievalDataset'
    metric, = [json.loads(s) for s in metrics]
    assert metric == dict(type='SegmentRetrievalMetric', level=40, k=20)


def test_voc_transfer_recipe():
    """Paper appendix F.5: 2-layer 1x1 conv head, 30k iterations, lr 0.003,
    wd 1e-4, batch 16, crop 512, poly 0.9, SGD; single-scale test."""
    for row in ROWS:
        cfg = Config.fromfile(row_config(row, 'voc_transfer'))
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, opt.weight_decay) == ('SGD', 0.003, 1e-4)
        poly, = cfg.param_scheduler
        assert (poly.type, poly.power, poly.end) == ('PolyLR', 0.9, 30000)
        assert cfg.train_cfg.max_iters == 30000
        assert cfg.train_dataloader.batch_size * 8 == 16
        crop = [t for t in cfg.train_dataloader.dataset.datasets[0].pipeline
                if t['type'] == 'RandomCrop'][0]
        assert crop.crop_size == (512, 512)
        assert cfg.model.data_preprocessor.size == (512, 512)
        assert cfg.model.test_cfg.mode == 'whole'
        head = cfg.model.decode_head
        if row == 'vit_s':
            assert (head.type, head.num_convs, head.kernel_size) == (
                'FCNHead', 1, 1)
            assert head.concat_input is False
        else:
            assert (head.type, head.decoder) == ('HypercolumnUnpoolHead',
                                                 'conv')
        assert head.num_classes == 21
        assert [e['type'] for e in cfg.val_evaluator] == [
            'IoUMetric', 'BoundaryFMetric']
        assert cfg.model.backbone.init_cfg.prefix == 'backbone.'


# ----------------------------------------------------------------------
# End to end, tiny
TINY_DIMS = dict(embed_dims=32, num_heads=2)
TINY_VIT = dict(_delete_=True, embed_dims=32, num_layers=1, num_heads=2,
                feedforward_channels=128)


def tiny_backbone(row):
    """Overrides making a row's backbone tiny (a dict to merge)."""
    if row.startswith('cast_s'):
        return dict(arch=dict(_delete_=True, depths=[1, 1, 1, 1],
                              **TINY_DIMS), pool_num_heads=2)
    vit = dict(arch=dict(TINY_VIT, num_layers=2 if row == 'vit_s' else 1))
    if row == 'vit_s':
        return dict(vit=vit)
    return dict(vit=vit, neck=dict(depths=(0, 1, 1, 1), num_heads=2,
                                   pool_num_heads=2))


def write_child(tmp_path, base, name, **body):
    """A config inheriting ``base`` with the given top-level dicts merged,
    as a user would write one."""
    path = tmp_path / name
    lines = [f'_base_ = [{base!r}]']
    lines += [f'{k} = {v!r}' for k, v in body.items()]
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def moco_pretrain(row, coco, work):
    tiny = {'model.neck.in_channels': 32, 'model.neck.hid_channels': 64,
            'model.neck.out_channels': 16,
            'model.head.predictor.in_channels': 16,
            'model.head.predictor.hid_channels': 64,
            'model.head.predictor.out_channels': 16}
    child = write_child(work, row_config(row, 'mocov3_coco'),
                        'tiny_moco.py',
                        model=dict(backbone=tiny_backbone(row)))
    run_tool('train', [child, '--work-dir', str(work / 'moco'),
                       '--cfg-options'] +
             format_options(dict(tiny, **schedule_options(coco))))
    ckpt = str(work / 'moco' / 'epoch_1.pth')
    assert osp.isfile(ckpt)
    return ckpt


def retrieval(row, voc_root, ckpt, work):
    model = dict(backbone=tiny_backbone(row))
    if row == 'cast_s_nopool':
        model['coarse_pool'] = dict(embed_dims=4 * 32, num_heads=2)
    if row == 'vit_s':  # pixel k-means: fewer clusters and iterations
        model.update(num_clusters=[80, 40, 20, 10], kmeans_iters=10)
    child = write_child(work, row_config(row, 'voc_retrieval'),
                        'tiny_retrieval.py', model=model)
    return retrieval_from(child, voc_root, ckpt, work)


def retrieval_from(child, voc_root, ckpt, work):
    """eval_hierarchy.py on a retrieval config, on the small VOC."""
    tool = load_tool('tools/analysis_tools/eval_hierarchy.py')
    opts = {'test_dataloader.num_workers': 0,
            'test_dataloader.persistent_workers': False}
    # Images at 128 px with 64 superpixels (512 and 1024 in the config);
    # the stages keep one cluster per token where they ask for more.
    for ds in ('bank.datasets.0', 'bank.datasets.1', 'query'):
        prefix = f'test_dataloader.dataset.{ds}'
        opts.update({f'{prefix}.data_root': voc_root,
                     f'{prefix}.pipeline.1.scale': '(128,128)',
                     f'{prefix}.pipeline.3.num_superpixels': 64})
    return tool.main([child, ckpt, '--out', str(work / 'retrieval.json'),
                      '--cfg-options'] + [f'{k}={v}' for k, v in
                                          opts.items()])


def transfer(row, voc_root, ckpt, work, iters=2):
    model = dict(backbone=dict(tiny_backbone(row),
                               init_cfg=dict(checkpoint=ckpt)),
                 decode_head=dict(in_channels=32, channels=32))
    child = write_child(work, row_config(row, 'voc_transfer'),
                        'tiny_transfer.py', model=model)
    opts = {'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
            'default_hooks.checkpoint.interval': iters,
            'default_hooks.logger.interval': 1,
            'param_scheduler.0.end': iters,
            'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
            'randomness.seed': 0,
            # crops of 128 (512 in the config)
            'model.data_preprocessor.size': '(128,128)',
            # a visualizer of its own: mmseg's runtime names it
            # 'visualizer', and an earlier run's would log elsewhere
            'visualizer.name': f'visualizer_{row}'}
    for i in (0, 1):
        prefix = f'train_dataloader.dataset.datasets.{i}'
        opts.update({f'{prefix}.data_root': voc_root,
                     f'{prefix}.pipeline.2.scale': '(256,128)',
                     f'{prefix}.pipeline.3.crop_size': '(128,128)'})
    opts.update({f'{k}_dataloader.{o}': v for k in ('val', 'test')
                 for o, v in (('num_workers', 0),
                              ('persistent_workers', False),
                              ('dataset.data_root', voc_root),
                              ('dataset.pipeline.1.scale', '(256,128)'))})
    run_tool('train', [child, '--work-dir', str(work / 'transfer'),
                       '--cfg-options'] + format_options(opts))
    logs = glob.glob(str(work / 'transfer' / '*' / 'vis_data' /
                         'scalars.json'))
    assert logs, 'no training log'
    with open(logs[0]) as f:
        records = [json.loads(line) for line in f]
    return records[-1], torch.load(str(work / 'transfer' /
                                       f'iter_{iters}.pth'),
                                   map_location='cpu', weights_only=False)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    make_coco(str(root / 'coco'), n=2)
    voc = make_voc(str(root))
    return dict(coco=str(root / 'coco'), voc=voc)


@pytest.mark.slow
@pytest.mark.parametrize('row', ROWS)
def test_row_pretrains_retrieves_and_transfers(row, data, tmp_path):
    """MoCo v3 on COCO's layout, then segment retrieval on VOC's (the
    retrieval metric), then VOC transfer from the MoCo checkpoint (mIoU and
    boundary F), each from the row's own config."""
    ckpt = moco_pretrain(row, data['coco'], tmp_path)
    metrics = retrieval(row, data['voc'], ckpt, tmp_path)
    assert set(metrics) == {'retrieval/mIoU', 'retrieval/bF',
                            'retrieval/bP', 'retrieval/bR'}
    assert all(0 <= v <= 100 for v in metrics.values())
    last, tuned = transfer(row, data['voc'], ckpt, tmp_path)
    assert 0 <= last['mIoU'] <= 100 and 0 <= last['bF'] <= 100
    # The transfer started from the self-supervised backbone: weights that
    # get no gradient (CAST's class-token norm, the ViTs' frozen MoCo v3
    # patch projection) are the pre-trained ones.
    moco = torch.load(ckpt, map_location='cpu', weights_only=False)
    kept = 'backbone.norm.weight' if row.startswith('cast') else \
        'backbone.vit.patch_embed.projection.weight'
    assert torch.equal(tuned['state_dict'][kept], moco['state_dict'][kept])


def last_record(work_dir):
    logs = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        return [json.loads(line) for line in f][-1]


@pytest.fixture(scope='module')
def in100(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet100'))
    make_imagenet(root, in100_wnids(), used=2, per_class=2, val_ann=False)
    return root


@pytest.mark.slow
@pytest.mark.parametrize('pooling', POOLINGS)
def test_pooling_pretrains_probes_and_keeps_a_hierarchy(pooling, in100, data,
                                                        tmp_path):
    """Table 5's protocol on tiny data: MoCo v3 on ImageNet-100's layout,
    then the linear probe (top-1 accuracy) from that checkpoint, each from
    the pooling's own configs; the same checkpoint's hierarchy is scored by
    segment retrieval on VOC's layout."""
    table5 = osp.join(ABLATIONS, 'table5', f'cast_s_{pooling}_')
    tiny = dict(backbone=tiny_backbone('cast_s'))
    moco = write_child(tmp_path, table5 + 'mocov3_in100.py', 'moco.py',
                       model=dict(tiny, neck=dict(in_channels=32,
                                                  hid_channels=64,
                                                  out_channels=16),
                                  head=dict(predictor=dict(
                                      in_channels=16, hid_channels=64,
                                      out_channels=16))))
    run_tool('train', [moco, '--work-dir', str(tmp_path / 'moco'),
                       '--cfg-options'] +
             format_options(schedule_options(in100)))
    ckpt = str(tmp_path / 'moco' / 'epoch_1.pth')
    sd = torch.load(ckpt, map_location='cpu', weights_only=False)[
        'state_dict']
    graph_pool = pooling == 'graphpool_random_init'
    assert ('backbone.stages.0.pool.refine.bias' in sd) == graph_pool

    probe = write_child(tmp_path, table5 + 'linear_in100.py', 'probe.py',
                        model=dict(tiny, head=dict(in_channels=32)))
    opts = dict(schedule_options(in100), **val_options(in100))
    opts.update({'model.backbone.init_cfg.checkpoint': ckpt,
                 'visualizer.name': f'probe_{pooling}'})
    run_tool('train', [probe, '--work-dir', str(tmp_path / 'probe'),
                       '--cfg-options'] + format_options(opts))
    record = last_record(tmp_path / 'probe')
    assert 0 <= record['accuracy/top1'] <= 100

    cfg = Config.fromfile(table5 + 'mocov3_in100.py')
    metrics = retrieval_with_pooling(cfg.model.backbone.pooling,
                                     data['voc'], ckpt, tmp_path)
    assert all(0 <= v <= 100 for v in metrics.values())


def retrieval_with_pooling(pooling, voc_root, ckpt, work):
    """The CAST row's retrieval config with another pooling."""
    child = write_child(work, row_config('cast_s', 'voc_retrieval'),
                        'pooled_retrieval.py', model=dict(backbone=dict(
                            tiny_backbone('cast_s'), pooling=pooling)))
    work.joinpath('pooled').mkdir()
    return retrieval_from(child, voc_root, ckpt, work / 'pooled')
