# Copyright (c) mmcast contributors. All rights reserved.
"""Safe checkpoint loading for every path through which mmcast reads a
checkpoint (the converter, ``init_model``, and train/test/resume through
mmengine).

Checkpoints are read with ``torch.load(..., weights_only=True)``: only
tensors, numbers, strings, containers and a short allow-list of plain data
types are rebuilt, so a file carrying a pickled callable is refused before
anything in it runs.  The allow-list holds what mmengine's own checkpoints
contain besides tensors (its message hub: NumPy arrays and scalars,
``HistoryBuffer``) and the ``argparse.Namespace`` in which DeiT/timm
checkpoints store their command line; it is active only while mmcast
loads, never process-wide.  (torch < 2.5 has no scoped allow-lists: there
a restricted unpickler that imports nothing but the same allow-list reads
the file.)

Importing mmcast registers :func:`load_from_local_safely` and
:func:`load_from_http_safely` as mmengine's loaders for local paths and
``http(s)://`` URLs, so the Runner's ``load_from``, ``resume`` and
``init_cfg=dict(type='Pretrained')`` read checkpoints this way too.

Every failure is a one-line :class:`CheckpointError` (or
``FileNotFoundError``) that says what is wrong with the file: missing,
empty, not a checkpoint, truncated or corrupt, refused (pickled code), or
of another architecture (:func:`check_state_dict`).
"""
import argparse
import contextlib
import os
import os.path as osp
import pickle
import re
import sys
import warnings
import zipfile
from collections import OrderedDict
from typing import Any, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from torch import nn


class CheckpointError(ValueError):
    """A checkpoint that cannot, or must not, be loaded (one-line
    message)."""


# ----------------------------------------------------------------------
# What weights_only loading may rebuild besides tensors
def _history_buffer_attribute(obj, name: str):
    """``getattr`` as an mmengine checkpoint calls it.

    A pickled ``HistoryBuffer`` names its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; this stands in for the built-in
    ``getattr`` while loading and allows exactly that, so a file cannot
    reach any other attribute (a function's globals, a class's methods).
    """
    if obj is HistoryBuffer and not name.startswith('_') and callable(
            vars(HistoryBuffer).get(name)):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'Unsupported global: GLOBAL getattr({getattr(obj, "__name__", obj)}'
        f', {name!r}) is not allowed')


def _numpy_globals() -> list:
    """NumPy arrays, scalars and dtypes, under the names NumPy 1 and NumPy
    2 pickle them with."""
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1
        from numpy.core import multiarray
    found = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        found += [(multiarray._reconstruct, f'{module}._reconstruct'),
                  (multiarray.scalar, f'{module}.scalar')]
    dtypes = getattr(np, 'dtypes', None)  # NumPy >= 1.25
    for name in dir(dtypes) if dtypes is not None else ():
        cls = getattr(dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            found.append(cls)
    return found


def checkpoint_safe_globals() -> list:
    """The types weights_only loading may rebuild for mmcast besides what
    torch allows by default (tensors, containers, numbers, strings).

    Returns:
        list: entries for ``torch.serialization.safe_globals``.
    """
    return _numpy_globals() + [
        HistoryBuffer,
        (_history_buffer_attribute, 'builtins.getattr'),
        argparse.Namespace,
    ]


@contextlib.contextmanager
def allow_checkpoint_globals():
    """Allow :func:`checkpoint_safe_globals` in ``torch.load`` within the
    block only (entries the caller already allowed stay allowed after)."""
    present = set(torch.serialization.get_safe_globals())
    added = [g for g in checkpoint_safe_globals() if g not in present]
    with torch.serialization.safe_globals(added):
        yield


def _global_name(entry) -> tuple:
    if isinstance(entry, tuple):
        return entry[1], entry[0]
    return f'{entry.__module__}.{entry.__qualname__}', entry


class _RestrictedUnpickler(pickle.Unpickler):
    """For torch < 2.5 (no ``torch.serialization.safe_globals``): an
    unpickler that imports nothing but what torch's ``weights_only``
    loading allows and :func:`checkpoint_safe_globals`, so no other
    callable can be reached, let alone run."""

    def find_class(self, module: str, name: str):
        # Python 2 names (protocol 2: '__builtin__'), as pickle maps them
        import _compat_pickle
        module, name = _compat_pickle.NAME_MAPPING.get((module, name),
                                                       (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        from torch._weights_only_unpickler import _get_allowed_globals
        allowed = dict(_get_allowed_globals())
        allowed.update(_global_name(g) for g in checkpoint_safe_globals())
        found = allowed.get(f'{module}.{name}')
        if found is None:
            raise pickle.UnpicklingError(
                f'Unsupported global: GLOBAL {module}.{name} was not an '
                'allowed global')
        return found


#: ``torch.load``'s ``pickle_module`` for torch < 2.5.
_RESTRICTED_PICKLE = type(sys)('mmcast_restricted_pickle')
_RESTRICTED_PICKLE.Unpickler = _RestrictedUnpickler
_RESTRICTED_PICKLE.load = \
    lambda f, **kwargs: _RestrictedUnpickler(f, **kwargs).load()


def _safe_torch_load(path: str, map_location) -> Any:
    """``torch.load`` with ``weights_only=True`` and the allow-list, or,
    on a torch without scoped allow-lists, with the restricted unpickler."""
    with warnings.catch_warnings():
        # A refused file is reported by the caller, not warned about.
        warnings.filterwarnings('ignore', 'Detected pickle protocol')
        if hasattr(torch.serialization, 'safe_globals'):
            with allow_checkpoint_globals():
                return torch.load(path, map_location=map_location,
                                  weights_only=True)
        return torch.load(path, map_location=map_location,
                          pickle_module=_RESTRICTED_PICKLE,
                          weights_only=False)


# ----------------------------------------------------------------------
# Reading a file
#: First bytes of common files that are not checkpoints.
_SIGNATURES = {
    b'\x89PNG': 'a PNG image',
    b'\xff\xd8\xff': 'a JPEG image',
    b'\x93NUMPY': 'a NumPy .npy array',
    b'GIF8': 'a GIF image',
    b'\x1f\x8b': 'a gzip archive',
}
_CORRUPT_MESSAGES = ('PytorchStreamReader', 'inline_container', 'CRC',
                     'EOF', 'unexpected end', 'zip archive')


#: How a legacy (pre-zip) torch.save file starts: its pickled magic number.
_LEGACY_HEAD = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)


def _describe_head(head: bytes) -> str:
    if head.startswith(b'\x80'):
        return 'a Python pickle'
    for signature, kind in _SIGNATURES.items():
        if head.startswith(signature):
            return kind
    try:
        head.decode('utf-8')
        return 'a text file'
    except UnicodeDecodeError:
        return f'a file starting with {head[:8]!r}'


def _check_format(path: str, name: str) -> None:
    """Refuse, in one line, what is not a torch checkpoint before reading
    it: torch.save writes a zip archive holding ``*/data.pkl``; the legacy
    format is a pickle that starts with torch's magic number."""
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointError(f'{name} is empty (0 bytes): not a checkpoint')
    with open(path, 'rb') as f:
        head = f.read(16)
    if head.startswith(b'PK\x03\x04'):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError):
            raise CheckpointError(
                f'{name} is truncated or corrupt: its zip directory cannot '
                f'be read ({size} bytes); download or save it again') \
                from None
        if not any(n == 'data.pkl' or n.endswith('/data.pkl')
                   for n in names):
            raise CheckpointError(
                f'{name} is a zip archive but not a PyTorch checkpoint (no '
                f'data.pkl among its {len(names)} entries)')
    elif not head.startswith(_LEGACY_HEAD[:len(head)]):
        raise CheckpointError(
            f'{name} is not a PyTorch checkpoint: it is '
            f'{_describe_head(head)}, not a torch.save file')


def _refused_global(message: str) -> Optional[str]:
    """What a weights_only load refused (a global it would have imported
    or called, or an object it would have built), or None when the error
    is not a refusal but a damaged file (a truncated name that no loaded
    module has)."""
    m = re.search(r'GLOBAL (.+?)(?: was not| whose| is not|$)', message)
    if m:
        found = m.group(1)
        module, _, attr = found.rpartition('.')
        loaded = sys.modules.get(module)  # never import what a file names
        if loaded is not None and not hasattr(loaded, attr):
            return None
        return found
    m = re.search(r'(?:unrecognized function|but got) (.+)', message)
    return m.group(1).strip() if m else None


def load_checkpoint_file(filename, map_location='cpu') -> Any:
    """Read a checkpoint with ``weights_only=True`` and mmcast's allow-list.

    Args:
        filename (str | Path): a local file.
        map_location: as :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        The loaded object (usually a dict).

    Raises:
        FileNotFoundError: no file there.
        CheckpointError: the file is empty, not a checkpoint, truncated or
            corrupt, or holds pickled objects outside the allow-list
            (refused before anything in it runs).
    """
    name = os.fspath(filename)
    path = osp.expanduser(name)
    if not osp.exists(path):
        raise FileNotFoundError(f'no checkpoint file at {name}')
    if osp.isdir(path):
        raise CheckpointError(f'{name} is a directory, not a checkpoint file')
    _check_format(path, name)
    try:
        return _safe_torch_load(path, map_location)
    except pickle.UnpicklingError as e:
        refused = _refused_global(str(e))
        if refused is None:
            raise CheckpointError(
                f'{name} is truncated or corrupt: {_first_line(e)}') \
                from None
        raise CheckpointError(
            f'refused to load {name}: it holds {refused}, a pickled object '
            'that is not a tensor, number, string or container, and '
            'unpickling it could run code; if you trust the file, re-save '
            'its weights: torch.save(torch.load(SRC, weights_only=False)'
            "['state_dict'], DST)") from None
    except (EOFError, RuntimeError, ValueError, KeyError) as e:
        message = _first_line(e)
        if isinstance(e, RuntimeError) and not any(
                m in message for m in _CORRUPT_MESSAGES):
            raise  # e.g. a CUDA map_location on a CPU machine
        raise CheckpointError(
            f'{name} is truncated or corrupt ({osp.getsize(path)} bytes): '
            f'{message or type(e).__name__}') from None


def _first_line(error: BaseException) -> str:
    """The cause in torch's message (it puts its advice first)."""
    text = str(error)
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0].split('. Please')[0] if lines else ''


# ----------------------------------------------------------------------
# Fitting a model
def state_dict_of(checkpoint: Any, name: str = 'the checkpoint') -> dict:
    """The weights of a loaded checkpoint (its ``state_dict``, or the dict
    itself), keys without the ``module.`` prefix of wrapped models, as
    mmengine reads them.

    Raises:
        CheckpointError: the checkpoint holds no weights.
    """
    state = checkpoint
    if isinstance(state, dict) and 'state_dict' in state:
        state = state['state_dict']
    if not isinstance(state, dict) or not any(
            isinstance(v, torch.Tensor) for v in state.values()):
        keys = sorted(map(str, checkpoint))[:6] if isinstance(
            checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f'{name} holds no model weights (no '
                              f"'state_dict' of tensors; found {keys})")
    return OrderedDict((re.sub(r'^module\.', '', k), v)
                       for k, v in state.items())


def _unwrap(model: nn.Module) -> nn.Module:
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def _examples(keys, n=3) -> str:
    shown = ', '.join(keys[:n])
    return shown + (', ...' if len(keys) > n else '')


def check_state_dict(model: nn.Module, state_dict: dict,
                     name: str = 'the checkpoint') -> None:
    """Fail in one line when weights do not fit a model.

    A checkpoint fits when it has every tensor of the model with the
    model's shape (extra tensors are allowed: they are ignored, as
    mmengine does), except under the prefixes the model lists in an
    ``optional_state_prefixes`` attribute, which may be missing.

    Args:
        model (nn.Module): the model (wrappers and TTA models are
            unwrapped).
        state_dict (dict): from :func:`state_dict_of`.
        name (str): the checkpoint, for the message.

    Raises:
        CheckpointError: which tensors are missing, unknown or of another
            shape, with counts.
    """
    module = _unwrap(model)
    target = module.state_dict()
    # Parts a model declares optional keep their initialisation when a
    # checkpoint lacks them (e.g. HierarchySegmentor's coarse_pool on a
    # pre-training checkpoint).
    optional = tuple(getattr(module, 'optional_state_prefixes', ()))
    missing = [k for k in target if k not in state_dict
               and not (optional and k.startswith(optional))]
    reshaped = [
        f'{k} {tuple(state_dict[k].shape)} vs {tuple(target[k].shape)}'
        for k in target if k in state_dict
        and tuple(getattr(state_dict[k], 'shape', ())) != tuple(
            target[k].shape)
    ]
    if not missing and not reshaped:
        return
    unknown = [k for k in state_dict if k not in target]
    parts = []
    if missing:
        parts.append(f'{len(missing)} of the model\'s {len(target)} tensors '
                     f'are missing from it ({_examples(missing)})')
    if reshaped:
        parts.append(f'{len(reshaped)} have another shape, checkpoint vs '
                     f'model ({_examples(reshaped, 2)})')
    if unknown:
        parts.append(f'{len(unknown)} of its {len(state_dict)} tensors are '
                     f'unknown to the model ({_examples(unknown)})')
    raise CheckpointError(
        f'{name} does not fit the model (a checkpoint of another '
        f'architecture or config?): ' + '; '.join(parts))


def check_checkpoint(model: nn.Module, filename, map_location='cpu') -> Any:
    """Read a checkpoint (a local file or an ``http(s)://`` URL, through
    mmengine's loaders) and check that it fits ``model``.

    Returns:
        The whole loaded checkpoint (``meta`` included).

    Raises:
        FileNotFoundError, CheckpointError: see :func:`load_checkpoint_file`
            and :func:`check_state_dict`.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    checkpoint = CheckpointLoader.load_checkpoint(
        str(filename), map_location=map_location, logger='silent')
    check_state_dict(model, state_dict_of(checkpoint, str(filename)),
                     str(filename))
    return checkpoint


def load_model_checkpoint(model: nn.Module, filename,
                          map_location='cpu') -> Any:
    """Load a checkpoint into a model after :func:`check_checkpoint`.

    Returns:
        The whole loaded checkpoint (``meta`` included).
    """
    from mmengine.runner.checkpoint import load_state_dict
    checkpoint = check_checkpoint(model, filename, map_location)
    load_state_dict(model, state_dict_of(checkpoint), strict=False,
                    logger='silent')
    return checkpoint


# ----------------------------------------------------------------------
# mmengine's loaders
def load_from_local_safely(filename, map_location=None):
    """mmengine's local loader, with :func:`load_checkpoint_file`."""
    return load_checkpoint_file(filename, map_location)


def load_from_http_safely(filename, map_location=None, model_dir=None):
    """mmengine's ``http(s)://`` loader: download into torch's hub cache
    (rank 0 first in distributed runs), then :func:`load_checkpoint_file`.
    """
    from mmengine.dist import barrier, get_dist_info
    rank, world_size = get_dist_info()
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')

    def fetch():
        os.makedirs(model_dir, exist_ok=True)
        target = osp.join(model_dir, osp.basename(filename.split('?')[0]))
        if not osp.exists(target):
            torch.hub.download_url_to_file(filename, target,
                                           progress=os.isatty(0))
        return target

    if rank == 0:
        path = fetch()
    if world_size > 1:
        barrier()
        if rank > 0:
            path = fetch()
    return load_checkpoint_file(path, map_location)


def register_safe_loaders() -> None:
    """Make mmengine read local and ``http(s)://`` checkpoints with
    :func:`load_checkpoint_file` (called when mmcast is imported)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme('', load_from_local_safely, force=True)
    CheckpointLoader.register_scheme(('http://', 'https://'),
                                     load_from_http_safely, force=True)
