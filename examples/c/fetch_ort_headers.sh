#!/usr/bin/env bash
# The ONNX Runtime C headers, from a pinned npm package, checksum-checked, cached.
#   fetch_ort_headers.sh CACHE_DIR   -> prints the include folder
# Package: com.github.asus4.onnxruntime (MIT; repackages Microsoft's official ONNX Runtime 1.29
# build, C API version 29). Only the headers are kept; the library comes from the onnxruntime
# Python wheel (any release >= 1.29 serves API version 29).
set -euo pipefail
PACKAGE=com.github.asus4.onnxruntime
VERSION=0.4.9
SHA256=e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d
IN_TARBALL='package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers'
cache=${1:?usage: fetch_ort_headers.sh CACHE_DIR}
include="$cache/$PACKAGE-$VERSION/include"
if [ -f "$include/onnxruntime_c_api.h" ]; then echo "$include"; exit 0; fi
command -v npm >/dev/null || { echo "skip: npm is not installed (it fetches the ONNX Runtime C headers)" >&2; exit 3; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching $PACKAGE@$VERSION (150 MB, once; only its headers are kept) ..." >&2
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tarball="$work/$PACKAGE-$VERSION.tgz"
echo "$SHA256  $tarball" | sha256sum -c --quiet - || { echo "checksum mismatch for $PACKAGE@$VERSION" >&2; exit 2; }
tar -xzf "$tarball" -C "$work" "$IN_TARBALL"
mkdir -p "$include"
cp "$work/$IN_TARBALL"/*.h "$include/"
echo "$include"
