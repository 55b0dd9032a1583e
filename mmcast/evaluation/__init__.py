# Copyright (c) mmcast contributors. All rights reserved.
"""Measuring a hierarchy: functional metrics (:mod:`.functional`, pure
numpy/scipy) and the mmengine metrics built on them (:mod:`.metrics`)."""
from .metrics import *  # noqa: F401,F403
