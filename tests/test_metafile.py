# Copyright (c) mmcast contributors. All rights reserved.
"""The OpenMMLab metafile (model-index.yml + per-family metafile.yml) reads
as mmseg's and mmpretrain's do, and points at configs that exist."""
import os.path as osp

import yaml

from tests.conftest import ROOT

INDEX = osp.join(ROOT, 'model-index.yml')


def metafiles():
    with open(INDEX) as f:
        index = yaml.safe_load(f)
    return [osp.join(ROOT, p) for p in index['Import']]


def models():
    for path in metafiles():
        with open(path) as f:
            meta = yaml.safe_load(f)
        collections = {c['Name'] for c in meta['Collections']}
        for model in meta['Models']:
            yield path, collections, model


def test_every_model_is_complete_and_its_config_exists():
    names = []
    for path, collections, model in models():
        name = model['Name']
        names.append(name)
        assert model['In Collection'] in collections, name
        config = osp.join(ROOT, model['Config'])
        assert osp.isfile(config), (path, model['Config'])
        assert osp.splitext(osp.basename(config))[0] == name
        if model.get('Results'):
            source = model['Results From']
            assert source.startswith(('paper', 'measured here')), name
            for result in model['Results']:
                assert result['Task'] and result['Dataset'], name
                assert all(isinstance(v, (int, float))
                           for v in result['Metrics'].values()), name
        for link in (model.get('Converted From') or {}).values():
            assert link.startswith('https://'), (name, link)
    assert len(names) == len(set(names)) and len(names) >= 10


def test_mmengine_reads_the_index_as_for_mmseg():
    """The metafile reader of mmengine's inferencers (MMSegInferencer's)."""
    from mmengine.infer import BaseInferencer
    found = {m['Name']: m for m in
             BaseInferencer._get_models_from_metafile(ROOT)}
    assert {'cast_s_ade20k', 'cast_s_in1k_deit',
            'cast_s_mocov3_voc_retrieval'} <= set(found)
    assert found['cast_s_ade20k']['Results'][0]['Metrics']['mIoU'] == 43.1


def test_mmpretrain_model_hub_lists_and_builds():
    from mmpretrain.apis import ModelHub, get_model, list_models
    if 'cast_s_in1k_deit' not in ModelHub._models_dict:
        ModelHub.register_model_index(INDEX, config_prefix=ROOT)
    assert {'cast_s_in1k_deit', 'cast_s_linear_in1k',
            'cast_s_mocov3_in1k'} <= set(list_models('cast_s_*'))
    info = ModelHub.get('cast_s_in1k_deit')
    assert info.config.filename.endswith('configs/cast_s_in1k_deit.py')
    assert info.results[0].metrics['Top 1 Accuracy'] == 80.4
    assert info.data['Converted From']['Weights'].endswith(
        'cast_small/best_checkpoint.pth')
    assert info.weights is None  # release files need cast2mmcast.py
    model = get_model('cast_s_in1k_deit', pretrained=False)
    assert type(model.backbone).__name__ == 'CAST'
