#!/usr/bin/env bash
# Build a Lambda layer from PyPI's prebuilt manylinux wheel: no Docker, no compiler.
#
#   scripts/build_layer.sh pillow|msgspec [arm64|x86_64] [output dir]
#
# pillow:  extract_frame crops faces with Pillow; Lambda's Python runtime has no image library
#          and the Powertools layer carries none. The wheel bundles its own libjpeg/zlib.
# msgspec: every function validates its events and settings with msgspec (smartdoor.schema).
# Unpacking the wheel under python/ is a complete layer. The version is the pin in the
# requirements files, so tests and Lambda run the same release. Rebuilds only when the pin,
# architecture or Python version changes. Needs PyPI (like `make install`).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="${1:-}"
case "$PACKAGE" in
  pillow) MODULE=PIL; EXTENSION=_imaging ;;
  msgspec) MODULE=msgspec; EXTENSION=_core ;;
  *) echo "usage: $0 pillow|msgspec [arm64|x86_64] [output dir]" >&2; exit 2 ;;
esac
ARCH="${2:-arm64}"
OUT="${3:-build/layers/${PACKAGE}-${ARCH}}"
PYTHON_VERSION="${LAMBDA_PYTHON_VERSION:-3.13}"
PYTHON="${PYTHON:-.venv/bin/python}"

case "$ARCH" in
  arm64) MACHINE=aarch64 ;;
  x86_64) MACHINE=x86_64 ;;
  *) echo "architecture must be arm64 or x86_64, not '$ARCH'" >&2; exit 2 ;;
esac

PIN="$(cat requirements.txt requirements-dev.txt | grep -iE "^${PACKAGE}==" | head -1 | tr -d '[:space:]' || true)"
if [[ -z "$PIN" ]]; then
  echo "requirements.txt and requirements-dev.txt have no '${PACKAGE}==<version>' pin" >&2
  exit 2
fi

STAMP="${OUT%/}.stamp"
WANT="${PIN} ${ARCH} python${PYTHON_VERSION}"
if [[ -f "$STAMP" && -d "$OUT/python/$MODULE" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "$PACKAGE layer up to date: $OUT ($WANT)"
  exit 0
fi

rm -rf "$OUT" "$STAMP"
mkdir -p "$OUT/python"
# manylinux_2_28 wheels run on Lambda's Amazon Linux 2023 (glibc 2.34) runtimes.
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
  --only-binary=:all: --implementation cp --python-version "$PYTHON_VERSION" \
  --platform "manylinux_2_28_${MACHINE}" --platform "manylinux2014_${MACHINE}" \
  --target "$OUT/python" "$PIN"

if ! ls "$OUT"/python/"$MODULE"/"$EXTENSION".cpython-*-"${MACHINE}"-linux-gnu.so >/dev/null 2>&1; then
  echo "the layer has no ${MACHINE} build of ${MODULE}.${EXTENSION}; refusing a broken layer" >&2
  exit 1
fi
echo "$WANT" > "$STAMP"
echo "$PACKAGE layer built: $OUT ($WANT, $(du -sh "$OUT" | cut -f1))"
