#!/usr/bin/env bash
# Build the Pillow Lambda layer from PyPI's prebuilt manylinux wheel: no Docker, no compiler.
#
#   scripts/build_pillow_layer.sh [arm64|x86_64] [output dir]
#
# Lambda's Python runtime has no image library and the Powertools layer carries none, but
# extract_frame crops faces with Pillow. The wheel bundles its own libjpeg/zlib, so unpacking
# it under python/ is a complete layer. The version is the pin in requirements-dev.txt, so
# tests and Lambda run the same Pillow. Rebuilds only when the pin, architecture or Python
# version changes. Needs PyPI (like `make install`).
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH="${1:-arm64}"
OUT="${2:-build/layers/pillow-${ARCH}}"
PYTHON_VERSION="${LAMBDA_PYTHON_VERSION:-3.13}"
PYTHON="${PYTHON:-.venv/bin/python}"

case "$ARCH" in
  arm64) MACHINE=aarch64 ;;
  x86_64) MACHINE=x86_64 ;;
  *) echo "architecture must be arm64 or x86_64, not '$ARCH'" >&2; exit 2 ;;
esac

PIN="$(grep -iE '^pillow==' requirements-dev.txt | tr -d '[:space:]' || true)"
if [[ -z "$PIN" ]]; then
  echo "requirements-dev.txt has no 'pillow==<version>' pin" >&2
  exit 2
fi

STAMP="${OUT%/}.stamp"
WANT="${PIN} ${ARCH} python${PYTHON_VERSION}"
if [[ -f "$STAMP" && -d "$OUT/python/PIL" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "Pillow layer up to date: $OUT ($WANT)"
  exit 0
fi

rm -rf "$OUT" "$STAMP"
mkdir -p "$OUT/python"
# manylinux_2_28 wheels run on Lambda's Amazon Linux 2023 (glibc 2.34) runtimes.
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
  --only-binary=:all: --implementation cp --python-version "$PYTHON_VERSION" \
  --platform "manylinux_2_28_${MACHINE}" --platform "manylinux2014_${MACHINE}" \
  --target "$OUT/python" "$PIN"

if ! ls "$OUT"/python/PIL/_imaging.cpython-*-"${MACHINE}"-linux-gnu.so >/dev/null 2>&1; then
  echo "the layer has no ${MACHINE} build of PIL._imaging; refusing a broken layer" >&2
  exit 1
fi
echo "$WANT" > "$STAMP"
echo "Pillow layer built: $OUT ($WANT, $(du -sh "$OUT" | cut -f1))"
