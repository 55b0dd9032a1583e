# Copyright (c) mmcast contributors. All rights reserved.
"""mmcast: CAST for MMSegmentation and MMPretrain.

Importing mmcast checks the OpenMMLab stack it was written against and
registers every mmcast component in mmseg's and mmpretrain's registries.
"""
from importlib import import_module

from .version import __version__, version_info

# package -> (import name, minimum, exclusive maximum, how to install)
SUPPORTED = {
    'mmcv': ('mmcv', '2.0.0', '2.2.0',
             'mmcv>=2.0.0,<2.2.0 (full, with ops): bash tools/setup_env.sh'),
    'mmengine': ('mmengine', '0.10.0', '1.0.0',
                 'pip install "mmengine>=0.10.0,<1.0.0"'),
    'mmsegmentation': ('mmseg', '1.2.0', '1.3.0',
                       'pip install "mmsegmentation>=1.2.0,<1.3.0"'),
    'mmpretrain': ('mmpretrain', '1.2.0', '1.3.0',
                   'pip install "mmpretrain>=1.2.0,<1.3.0"'),
}


def _check_versions():
    """Fail at import, in one line, when a dependency is missing or its
    version is outside the supported range (the way mmseg's ``__init__``
    checks mmcv)."""
    from mmengine.utils import digit_version
    for package, (module, low, high, fix) in SUPPORTED.items():
        try:
            version = import_module(module).__version__
        except ImportError as e:
            raise ImportError(f'mmcast needs {package} ({e}); install '
                              f'{fix}') from None
        if not digit_version(low) <= digit_version(version) < \
                digit_version(high):
            raise ImportError(
                f'mmcast supports {package}>={low},<{high} but found '
                f'{package}=={version}; install {fix}')


try:
    import mmengine  # noqa: F401
except ImportError:
    raise ImportError('mmcast needs mmengine; run bash tools/setup_env.sh '
                      'or pip install "mmengine>=0.10.0,<1.0.0"') from None
_check_versions()

# mmengine 0.10 stores its message hub (NumPy values, HistoryBuffer) in every
# checkpoint, which torch's weights_only loading refuses by default.  Rather
# than switch safe loading off, mmcast reads checkpoints with weights_only=True
# and allows exactly those types, during its own loads only: register that
# loader for mmengine's local paths and http(s) URLs (resume, load_from,
# Pretrained init).  See mmcast/engine/checkpoint.py.
from .engine import register_safe_loaders  # noqa: E402

register_safe_loaders()

# Importing registers every component.
from . import datasets, evaluation, models, visualization  # noqa: E402,F401

__all__ = ['__version__', 'version_info']
