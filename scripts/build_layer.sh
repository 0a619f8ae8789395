#!/usr/bin/env bash
# Build a Lambda layer from PyPI's prebuilt manylinux wheel: no Docker, no compiler.
#
#   scripts/build_layer.sh pillow|msgspec|webpush [arm64|x86_64] [output dir]
#
# pillow:  extract_frame crops faces with Pillow; Lambda's Python runtime has no image library
#          and the Powertools layer carries none. The wheel bundles its own libjpeg/zlib.
# msgspec: every function validates its events and settings with msgspec (smartdoor.schema).
# webpush: ask_owner and the API push to the owner's devices (smartdoor.adapters.web_push):
#          cryptography (with cffi, from their manylinux wheels) and the pure-Python http-ece
#          and py-vapid (http-ece is published as an sdist only: pure Python, nothing to compile).
# Unpacking the wheel under python/ is a complete layer. The version is the pin in the
# requirements files, so tests and Lambda run the same release. Rebuilds only when the pin,
# architecture or Python version changes. Needs PyPI (like `make install`).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="${1:-}"
case "$PACKAGE" in
  pillow) MODULE=PIL; EXTENSION=_imaging ;;
  msgspec) MODULE=msgspec; EXTENSION=_core ;;
  webpush) MODULE=cryptography; EXTENSION=_cffi_backend ;;
  *) echo "usage: $0 pillow|msgspec|webpush [arm64|x86_64] [output dir]" >&2; exit 2 ;;
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

pin() {
  local found
  found="$(cat requirements.txt requirements-dev.txt | grep -iE "^$1==" | head -1 | tr -d '[:space:]' || true)"
  if [[ -z "$found" ]]; then
    echo "requirements.txt and requirements-dev.txt have no '$1==<version>' pin" >&2
    exit 2
  fi
  echo "$found"
}
if [[ "$PACKAGE" == webpush ]]; then
  BINARY_PIN="$(pin cryptography)"
  PURE_PINS="$(pin http-ece) $(pin py-vapid)"
  PIN="${BINARY_PIN} ${PURE_PINS// / }"
else
  PIN="$(pin "$PACKAGE")"
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
PLATFORM=(--implementation cp --python-version "$PYTHON_VERSION"
  --platform "manylinux_2_28_${MACHINE}" --platform "manylinux2014_${MACHINE}" --platform "manylinux_2_34_${MACHINE}")
if [[ "$PACKAGE" == webpush ]]; then
  # cryptography and its dependencies (cffi, pycparser), wheels only; then the two pure packages.
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-compile \
    --only-binary=:all: "${PLATFORM[@]}" --target "$OUT/python" "$BINARY_PIN"
  # shellcheck disable=SC2086 # two pins, split on purpose
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
    "${PLATFORM[@]}" --target "$OUT/python" $PURE_PINS
  if [[ ! -f "$OUT/python/cryptography/hazmat/bindings/_rust.abi3.so" ]]; then
    echo "the layer has no cryptography Rust bindings; refusing a broken layer" >&2
    exit 1
  fi
  EXTENSION_DIR="$OUT/python"
else
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
    --only-binary=:all: "${PLATFORM[@]}" --target "$OUT/python" "$PIN"
  EXTENSION_DIR="$OUT/python/$MODULE"
fi
rm -rf "$OUT/python/bin"

if ! ls "$EXTENSION_DIR"/"$EXTENSION".cpython-*-"${MACHINE}"-linux-gnu.so >/dev/null 2>&1; then
  echo "the layer has no ${MACHINE} build of ${MODULE}.${EXTENSION}; refusing a broken layer" >&2
  exit 1
fi
echo "$WANT" > "$STAMP"
echo "$PACKAGE layer built: $OUT ($WANT, $(du -sh "$OUT" | cut -f1))"
