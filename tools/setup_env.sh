#!/usr/bin/env bash
# One-command set-up of mmcast's environment on a CPU machine.
#
#   bash tools/setup_env.sh
#
# Creates .venv/ in the repository root, installs torch/torchvision, builds
# mmcv (full, with CPU ops) against exactly that torch, installs the
# OpenMMLab stack, the OpenCV contrib build (for SEEDS) and mmcast itself
# (editable), then verifies the result.  Idempotent: a second run finds the
# stamp of the first, re-verifies and exits.
#
# Environment variables:
#   PYTHON        interpreter used to create the venv (default: python3.11,
#                 else python3).
#   MMCAST_CACHE  cache outside the clone for the built mmcv wheel
#                 (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mmcast).  Wheels
#                 are kept per torch version, so a wheel built against another
#                 torch is never picked up.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="${MMCAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmcast}"
WHEELS="$CACHE/wheels/torch-$TORCH_VERSION"
STAMP="$VENV/.mmcast-setup-stamp"

log() { printf '[setup_env] %s\n' "$*"; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }

verify() {
    "$PY" - <<'EOF'
import sys
import cv2
if not hasattr(cv2, 'ximgproc'):
    sys.exit('cv2 at %s has no ximgproc: the contrib build of OpenCV is not '
             'the one imported' % cv2.__file__)
cv2.ximgproc.createSuperpixelSEEDS
import mmcv.ops  # noqa: F401  (compiled ops are importable)
from mmcv.ops import nms  # noqa: F401
import mmseg, mmpretrain, mmengine, torch, torchvision  # noqa: F401,E401
import mmcast
print('[setup_env] verified: torch %s, torchvision %s, mmcv %s, mmengine %s, '
      'mmseg %s, mmpretrain %s, opencv %s (contrib), mmcast %s' % (
          torch.__version__, torchvision.__version__,
          __import__('mmcv').__version__, mmengine.__version__,
          mmseg.__version__, mmpretrain.__version__, cv2.__version__,
          mmcast.__version__))
EOF
}

# Everything that decides the content of the environment goes into the stamp.
fingerprint() {
    cat "$ROOT/tools/setup_env.sh" "$ROOT"/requirements/*.txt "$ROOT/setup.py" \
        | sha256sum | cut -d' ' -f1
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
    log "environment at $VENV is up to date; verifying"
    verify || die "verification failed; remove $VENV and run again"
    exit 0
fi

# 1. The virtual environment.
if [ ! -x "$PY" ]; then
    BASE_PY="${PYTHON:-}"
    if [ -z "$BASE_PY" ]; then
        BASE_PY="$(command -v python3.11 || command -v python3)" \
            || die "no python3 found; set PYTHON=/path/to/python3.11"
    fi
    log "creating $VENV with $BASE_PY"
    "$BASE_PY" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip 'setuptools>=77,<81' wheel

# 2. torch + torchvision, pinned together.
log "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
"${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" 'numpy>=1.23,<2'

# 3. mmcv with CPU ops, built against this torch and cached outside the clone.
have_mmcv() {
    "$PY" - "$MMCV_VERSION" "$TORCH_VERSION" <<'EOF'
import sys, torch
try:
    import mmcv, mmcv.ops  # noqa: F401
except Exception:
    sys.exit(1)
ok = mmcv.__version__ == sys.argv[1] and torch.__version__.split('+')[0] == sys.argv[2]
sys.exit(0 if ok else 1)
EOF
}
if have_mmcv; then
    log "mmcv==$MMCV_VERSION with ops already installed"
else
    mkdir -p "$WHEELS"
    wheel="$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
    if [ -z "$wheel" ]; then
        log "building mmcv==$MMCV_VERSION with CPU ops against torch $TORCH_VERSION (about 10 minutes, once per machine)"
        tmp="$(mktemp -d)"
        "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: \
            -d "$tmp" "mmcv==$MMCV_VERSION"
        tar -xzf "$tmp/mmcv-$MMCV_VERSION.tar.gz" -C "$tmp"
        # torch 2.14's headers require C++20; mmcv 2.1.0's setup.py asks for C++17.
        sed -i "s/extra_compile_args\['cxx'\] = \['-std=c++17'\]/extra_compile_args['cxx'] = ['-std=c++20']/" \
            "$tmp/mmcv-$MMCV_VERSION/setup.py"
        grep -q "std=c++20" "$tmp/mmcv-$MMCV_VERSION/setup.py" \
            || die "could not patch mmcv's setup.py for C++20"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
            "${PIP[@]}" wheel --no-deps --no-build-isolation --no-cache-dir \
            -w "$tmp" "$tmp/mmcv-$MMCV_VERSION"
        mv "$tmp"/mmcv-"$MMCV_VERSION"-*.whl "$WHEELS"/
        rm -rf "$tmp"
        wheel="$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
    else
        log "reusing cached $wheel"
    fi
    "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel"
fi

# 4. The OpenMMLab stack, test tools and mmcast itself.
log "installing the OpenMMLab stack and mmcast"
"${PIP[@]}" install -q -r requirements/runtime.txt -r requirements/tests.txt \
    addict packaging Pillow pyyaml yapf "torch==$TORCH_VERSION"
"${PIP[@]}" install -q --no-deps -e .

# 5. mmcv and mmengine pull opencv-python, whose cv2 lacks ximgproc and shadows
#    the contrib build.  Keep exactly one OpenCV: the contrib one.
others="$("${PIP[@]}" list --format=freeze 2>/dev/null \
    | grep -iE '^opencv-(python|python-headless|contrib-python)==' || true)"
if [ -n "$others" ] || ! "$PY" -c 'import cv2; cv2.ximgproc' >/dev/null 2>&1; then
    log "replacing plain opencv-python by opencv-contrib-python-headless"
    "${PIP[@]}" uninstall -q -y opencv-python opencv-python-headless opencv-contrib-python \
        opencv-contrib-python-headless >/dev/null 2>&1 || true
    "${PIP[@]}" install -q --no-deps 'opencv-contrib-python-headless>=4.8,<4.11'
fi

verify || die "verification failed (see above)"
fingerprint > "$STAMP"
log "done: use $PY"
