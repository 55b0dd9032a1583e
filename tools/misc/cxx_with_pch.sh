#!/usr/bin/env bash
# A C++ compiler wrapper for building mmcv's CPU ops (tools/setup_env.sh sets
# CXX to it): the header most of mmcv's sources start with is parsed once.
#
#   CXX=tools/misc/cxx_with_pch.sh MMCAST_PCH_DIR=/tmp/pch pip wheel ... mmcv
#
# 63 of mmcv 2.1.0's 77 C++ files start with #include "pytorch_cpp_helper.hpp",
# which pulls in torch's ATen headers: parsing them is most of the time each
# file takes.  The first such file that is compiled also precompiles that
# header (a .gch in MMCAST_PCH_DIR), with the file's own command line, so
# the flags match; the others are then compiled with -include of it.  As the
# header is exactly the one those files include first, the result is the
# same (docs/setup.md compares the machine code).  Every other command
# (other files, linking, version queries) goes to the compiler unchanged,
# and so does a file compiled while the header is being precompiled.
#
# Environment: MMCAST_PCH_DIR (required; must exist), MMCAST_PCH_CXX (the
# real compiler, default c++).
set -u
REAL="${MMCAST_PCH_CXX:-c++}"
HEADER=pytorch_cpp_helper.hpp
DIR="${MMCAST_PCH_DIR:-}"
if [ "$(command -v "$REAL")" -ef "${BASH_SOURCE[0]}" ]; then
    echo "cxx_with_pch: MMCAST_PCH_CXX names this wrapper; set it to the compiler" >&2
    exit 2
fi

src="" out="" compiling=0 prev=""
for arg in "$@"; do
    case "$arg" in
        -c) compiling=1 ;;
        *.cpp) [ -f "$arg" ] && src="$arg" ;;
    esac
    [ "$prev" = "-o" ] && out="$arg"
    prev="$arg"
done
if [ -z "$DIR" ] || [ "$compiling" = 0 ] || [ -z "$src" ] || [ -z "$out" ] \
    || [ "$(grep -m1 -E '^[[:space:]]*#[[:space:]]*include' "$src" | tr -d '[:space:]')" \
         != "#include\"$HEADER\"" ]; then
    exec "$REAL" "$@"
fi

pch="$DIR/mmcv_pch.h"
if [ ! -f "$DIR/pch.done" ] && [ ! -f "$DIR/pch.failed" ]; then
    (
        # One compiler precompiles; one arriving meanwhile compiles as usual.
        flock -n 9 || exit 0
        [ -f "$DIR/pch.done" ] && exit 0
        printf '#include "%s"\n' "$HEADER" >"$pch"
        # The same command line without the source, its object and its
        # dependency file, which name the file rather than the header.
        args=() skip=0
        for arg in "$@"; do
            if [ "$skip" = 1 ]; then skip=0; continue; fi
            case "$arg" in
                -o|-MF) skip=1 ;;
                -c|-MMD|"$src") ;;
                *) args+=("$arg") ;;
            esac
        done
        if "$REAL" "${args[@]}" -x c++-header "$pch" -o "$pch.gch"; then
            touch "$DIR/pch.done"
        else
            echo "cxx_with_pch: could not precompile $HEADER; compiling without" >&2
            touch "$DIR/pch.failed"
        fi
    ) 9>"$DIR/pch.lock"
fi
if [ -f "$DIR/pch.done" ]; then
    exec "$REAL" -include "$pch" -Winvalid-pch "$@"
fi
exec "$REAL" "$@"
