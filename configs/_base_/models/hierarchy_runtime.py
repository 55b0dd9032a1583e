# What every hierarchy evaluation config shares: mmseg's runtime, mmcast's
# components, the CAST data preprocessor and a test loop (tools/test.py runs
# the config's test_dataloader and test_evaluator).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmcast'], allow_failed_imports=False)
hierarchy_preprocessor = dict(
    type='CASTSegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
test_cfg = dict(type='TestLoop')
