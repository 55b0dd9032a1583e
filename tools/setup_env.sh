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
# The screen gets one line per step (what it does, how long it took on our
# machine), a live progress line while mmcv compiles, and the time of each
# step at the end; the full output of pip and of the compiler goes to a log
# file whose path is printed first.
#
# Environment variables:
#   PYTHON        interpreter used to create the venv (default: python3.11,
#                 else python3).
#   MMCAST_CACHE  cache outside the clone for the built mmcv wheel
#                 (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mmcast).  Wheels
#                 are kept per torch version, so a wheel built against another
#                 torch is never picked up.  The logs of the set-ups are
#                 kept in its logs/ folder.
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
LOG_DIR="$CACHE/logs"

log() { printf '[setup_env] %s\n' "$*"; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }

# 75 -> "1 min 15 s", 9 -> "9 s"
duration() {
    if [ "$1" -lt 60 ]; then printf '%d s' "$1"
    else printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); fi
}

# step NAME MESSAGE: end the running step (its time is kept for the summary)
# and start this one, announcing it.
STEP_NAMES=() STEP_TIMES=() STEP_NAME="" STEP_START=0
end_step() {
    if [ -n "$STEP_NAME" ]; then
        STEP_NAMES+=("$STEP_NAME")
        STEP_TIMES+=($((SECONDS - STEP_START)))
        STEP_NAME=""
    fi
}
step() {
    end_step
    STEP_NAME="$1" STEP_START=$SECONDS
    log "$2"
}

# logged COMMAND...: run it with its output appended to the log; on failure
# show the end of the log and stop.
logged() {
    local start=$SECONDS
    printf '\n[setup_env] $ %s\n' "$*" >>"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        tail -n 30 "$LOG" | sed 's/^/    /' >&2
        die "failed: $*  (full log: $LOG)"
    fi
    printf '[setup_env] (took %s)\n' "$(duration $((SECONDS - start)))" >>"$LOG"
}

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

mkdir -p "$LOG_DIR"
LOG="$LOG_DIR/setup_env-$(date +%Y%m%d_%H%M%S).log"
: >"$LOG"
if ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    log "setting up $VENV: about 3.5 min here, with mmcv's compiled ops"
    log "reused from $WHEELS"
else
    log "setting up $VENV: 7-26 min on a fresh 2-core machine here (by load), most of it"
    log "compiling mmcv's CPU ops, once per machine: later set-ups reuse the wheel"
    log "cached in $WHEELS (docs/setup.md)"
fi
log "full log of pip and the compiler: $LOG"

# 1. The virtual environment.
if [ ! -x "$PY" ]; then
    BASE_PY="${PYTHON:-}"
    if [ -z "$BASE_PY" ]; then
        BASE_PY="$(command -v python3.11 || command -v python3)" \
            || die "no python3 found; set PYTHON=/path/to/python3.11"
    fi
    step "venv" "1/5 creating $VENV with $BASE_PY"
    logged "$BASE_PY" -m venv "$VENV"
else
    step "venv" "1/5 reusing $VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
logged "${PIP[@]}" install --upgrade pip 'setuptools>=77,<81' wheel

# 2. torch + torchvision, pinned together.
step "torch" "2/5 installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION (2.8 GB of wheels, 4.5 GB installed; 2-3.5 min here)"
logged "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" 'numpy>=1.23,<2'

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
    step "mmcv" "3/5 mmcv==$MMCV_VERSION with ops already installed"
else
    mkdir -p "$WHEELS"
    wheel="$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
    if [ -z "$wheel" ]; then
        step "mmcv" "3/5 compiling mmcv==$MMCV_VERSION's CPU ops against torch $TORCH_VERSION, once per machine (5.5 min here at low load, 19-20 min with other jobs running; 7.8 min of CPU time)"
        tmp="$(mktemp -d)"
        logged "${PIP[@]}" download --no-deps --no-build-isolation --no-binary :all: \
            -d "$tmp" "mmcv==$MMCV_VERSION"
        tar -xzf "$tmp/mmcv-$MMCV_VERSION.tar.gz" -C "$tmp"
        # torch 2.14's headers require C++20; mmcv 2.1.0's setup.py asks for C++17.
        sed -i "s/extra_compile_args\['cxx'\] = \['-std=c++17'\]/extra_compile_args['cxx'] = ['-std=c++20']/" \
            "$tmp/mmcv-$MMCV_VERSION/setup.py"
        grep -q "std=c++20" "$tmp/mmcv-$MMCV_VERSION/setup.py" \
            || die "could not patch mmcv's setup.py for C++20"
        # Two savings that leave the machine code as it is (docs/setup.md):
        # - Python's own compile flags (-O3, -DNDEBUG...) with -g0 appended:
        #   no debug information (CFLAGS replaces Python's flags, hence them);
        # - cxx_with_pch.sh: the torch headers most files start with are
        #   parsed once (a precompiled header) instead of once per file.
        cflags="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("CFLAGS") or "")') -g0"
        real_cxx="${CXX:-c++}"
        mkdir -p "$tmp/pch"
        # -v: ninja's "[N/M] c++ ..." lines reach build_progress.py, which
        # draws the progress and appends everything to the log.
        printf '\n[setup_env] $ CFLAGS="%s" CXX=cxx_with_pch.sh pip wheel -v mmcv\n' "$cflags" >>"$LOG"
        if ! CFLAGS="$cflags" CXX="$ROOT/tools/misc/cxx_with_pch.sh" \
            MMCAST_PCH_DIR="$tmp/pch" MMCAST_PCH_CXX="$real_cxx" \
            MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
            "${PIP[@]}" wheel -v --no-deps --no-build-isolation --no-cache-dir \
            -w "$tmp" "$tmp/mmcv-$MMCV_VERSION" 2>&1 \
            | "$PY" "$ROOT/tools/misc/build_progress.py" --log "$LOG" \
                --name mmcv --prefix '[setup_env]     '; then
            tail -n 30 "$LOG" | sed 's/^/    /' >&2
            die "building mmcv failed  (full log: $LOG)"
        fi
        printf '[setup_env] (took %s)\n' "$(duration $((SECONDS - STEP_START)))" >>"$LOG"
        # ninja's record of each file's compile time, kept beside the log.
        cp "$tmp/mmcv-$MMCV_VERSION"/build/temp.*/.ninja_log \
            "${LOG%.log}-mmcv.ninja_log" 2>/dev/null || true
        mv "$tmp"/mmcv-"$MMCV_VERSION"-*.whl "$WHEELS"/
        rm -rf "$tmp"
        wheel="$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
    else
        step "mmcv" "3/5 installing mmcv from the cached $wheel"
    fi
    logged "${PIP[@]}" install --no-deps --force-reinstall "$wheel"
fi

# 4. The OpenMMLab stack, test tools and mmcast itself.
step "stack" "4/5 installing mmengine, mmsegmentation, mmpretrain, OpenCV contrib, scikit-image, faiss, pytest and mmcast (20-60 s here)"
# opencv-python<4.12: mmengine needs some opencv-python (removed below); the
# newer ones need numpy 2, and without the cap pip downloads four of them
# (276 MB) before it finds one that accepts numpy<2.
logged "${PIP[@]}" install -r requirements/runtime.txt -r requirements/tests.txt \
    addict packaging Pillow pyyaml yapf "torch==$TORCH_VERSION" 'opencv-python<4.12'
logged "${PIP[@]}" install --no-deps -e .

# 5. mmcv and mmengine pull opencv-python, whose cv2 lacks ximgproc and shadows
#    the contrib build.  Keep exactly one OpenCV: the contrib one.
others="$("${PIP[@]}" list --format=freeze 2>/dev/null \
    | grep -iE '^opencv-(python|python-headless|contrib-python)==' || true)"
if [ -n "$others" ] || ! "$PY" -c 'import cv2; cv2.ximgproc' >/dev/null 2>&1; then
    log "    replacing plain opencv-python by opencv-contrib-python-headless"
    "${PIP[@]}" uninstall -y opencv-python opencv-python-headless opencv-contrib-python \
        opencv-contrib-python-headless >>"$LOG" 2>&1 || true
    logged "${PIP[@]}" install --no-deps 'opencv-contrib-python-headless>=4.8,<4.11'
fi

step "verify" "5/5 verifying the environment"
verify || die "verification failed (see above; full log: $LOG)"
fingerprint > "$STAMP"
end_step
summary=""
for i in "${!STEP_NAMES[@]}"; do
    summary+="${summary:+, }${STEP_NAMES[$i]} $(duration "${STEP_TIMES[$i]}")"
done
log "done in $(duration "$SECONDS"): $summary"
log "use $PY"
