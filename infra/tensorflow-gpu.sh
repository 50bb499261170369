#!/usr/bin/env bash
# The GPU variant: @tensorflow/tfjs-node-gpu built against the CUDA-enabled
# `tensorflow` wheel, with the CUDA libraries from NVIDIA's pip wheels, from
# package registries only (PyPI, npm). Nothing in the repository changes: the
# package lives in its own npm prefix under $CRLHF_CACHE_DIR, and
# rlhf/backend.ts tries it before tfjs-node when a GPU is present.
#
#   infra/tensorflow-gpu.sh install   fetch (cached, ~2.5 GB), unpack, build the addon
#   infra/tensorflow-gpu.sh status    whether it loads, and whether TensorFlow sees a GPU
#
# Requirements on the GPU machine: an NVIDIA driver for CUDA 12 (R525 or newer;
# `nvidia-smi` works). The CUDA toolkit and cuDNN come from the wheels.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tensorflow.sh"

GPU_WHEEL="tensorflow-${TF_VERSION}-cp311-cp311-manylinux_2_27_x86_64.whl"
GPU_WHEEL_SHA256=9056fbc9ba04235810b71ae6cbd958a196e8804fb53bbcffbf3e23b56155f124

# tensorflow==2.21.0's `and-cuda` extra, each pinned at the lower bound the
# wheel declares (the versions TensorFlow 2.21 is built and tested against:
# CUDA 12.5, cuDNN 9.3). file sha256 requirement
NVIDIA_WHEELS=(
  "nvidia_cublas_cu12-12.5.3.2-py3-none-manylinux2014_x86_64.whl ca070ad70e9fa6654084575d01bd001f30cc4665e33d4bb9fc8e0f321caa034b nvidia-cublas-cu12==12.5.3.2"
  "nvidia_cuda_cupti_cu12-12.5.82-py3-none-manylinux2014_x86_64.whl bde77a5feb66752ec61db2adfe47f56b941842825b4c7e2068aff27c9d107953 nvidia-cuda-cupti-cu12==12.5.82"
  "nvidia_cuda_nvcc_cu12-12.5.82-py3-none-manylinux2014_x86_64.whl b03e545b8e8c3ce7ebcd7fc44063180ff52ff01d064ece2127ed90a04ef12cd0 nvidia-cuda-nvcc-cu12==12.5.82"
  "nvidia_cuda_nvrtc_cu12-12.5.82-py3-none-manylinux2014_x86_64.whl 3dbd97b0104b4bfbc3c4f8c79cd2496307c89c43c29a9f83125f1d76296ff3fd nvidia-cuda-nvrtc-cu12==12.5.82"
  "nvidia_cuda_runtime_cu12-12.5.82-py3-none-manylinux2014_x86_64.whl 3e79a060e126df40fd3a068f3f787eb000fa51b251ec6cd97d09579632687115 nvidia-cuda-runtime-cu12==12.5.82"
  "nvidia_cudnn_cu12-9.3.0.75-py3-none-manylinux2014_x86_64.whl 9ad9c6929ebb5295eb4a1728024666d1c88283373e265a0c5c883e6f9d5cd76d nvidia-cudnn-cu12==9.3.0.75"
  "nvidia_cufft_cu12-11.2.3.61-py3-none-manylinux2014_x86_64.whl 9a6e8df162585750f61983a638104a48c756aa13f9f48e19ab079b38e3c828b8 nvidia-cufft-cu12==11.2.3.61"
  "nvidia_curand_cu12-10.3.6.82-py3-none-manylinux2014_x86_64.whl 2823fb27de4e44dbb22394a6adf53aa6e1b013aca0f8c22867d1cfae58405536 nvidia-curand-cu12==10.3.6.82"
  "nvidia_cusolver_cu12-11.6.3.83-py3-none-manylinux2014_x86_64.whl 93cfafacde4428b71778eeb092ec615a02a3d05404da1bcf91c53e3fa1bce42b nvidia-cusolver-cu12==11.6.3.83"
  "nvidia_cusparse_cu12-12.5.1.3-py3-none-manylinux2014_x86_64.whl 016df8e993c437e8301e62739f01775cba988fd5253cd4c64173f8e8d2f8e752 nvidia-cusparse-cu12==12.5.1.3"
  "nvidia_nccl_cu12-2.27.7-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl de5ba5562f08029a19cb1cd659404b18411ed0d6c90ac5f52f30bf99ad5809aa nvidia-nccl-cu12==2.27.7"
  "nvidia_nvjitlink_cu12-12.5.82-py3-none-manylinux2014_x86_64.whl f9b37bc5c8cf7509665cb6ada5aaa0ce65618f2332b7d3e78e9790511f111212 nvidia-nvjitlink-cu12==12.5.82"
)

# The wheels' own layout, site-packages style: TensorFlow's libraries find the
# CUDA ones through their RUNPATH $ORIGIN/../nvidia/<name>/lib.
GPU_SITE="$CRLHF_CACHE_DIR/tensorflow-gpu-$TF_VERSION"
TF_DIR="$GPU_SITE/tensorflow"
TF_LIB_DIR="$TF_DIR"
GPU_PREFIX="$CRLHF_CACHE_DIR/tfjs-node-gpu-$TFJS_NODE_VERSION"
PKG_DIR="$GPU_PREFIX/node_modules/@tensorflow/tfjs-node-gpu"
ADDON_CACHE="$CRLHF_CACHE_DIR/tfjs-node-gpu-$TFJS_NODE_VERSION-tf$TF_VERSION-$BINDING_PATCH-$(uname -m)"
BUILD_LOG="$CRLHF_CACHE_DIR/tfjs-node-gpu-build.log"

extract_gpu() {
  if [ -f "$GPU_SITE/.complete" ] && [ -f "$TF_DIR/$KERNELS_HEADER" ]; then return 0; fi
  local wheel entry file sha req
  wheel=$(fetch_wheel "$GPU_WHEEL" "$GPU_WHEEL_SHA256" "tensorflow==$TF_VERSION")
  log "unpacking TensorFlow $TF_VERSION (CUDA build) into $TF_DIR"
  rm -rf "$GPU_SITE" && mkdir -p "$GPU_SITE"
  extract_tensorflow "$wheel" "$TF_DIR"
  # RUNPATH is $ORIGIN/../nvidia/...: the libraries sit in tensorflow/ itself, as in the wheel.
  mv "$TF_DIR/lib/"* "$TF_DIR/" && rmdir "$TF_DIR/lib"
  for entry in "${NVIDIA_WHEELS[@]}"; do
    read -r file sha req <<<"$entry"
    wheel=$(fetch_wheel "$file" "$sha" "$req")
    log "unpacking $req"
    python3 - "$wheel" "$GPU_SITE" <<'PY'
import sys, zipfile, os, shutil
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        f = info.filename
        # Shared libraries and the tools XLA looks for (ptxas, nvlink, libdevice).
        if f.startswith('nvidia/') and not f.endswith('/') and ('/lib/' in f or '/bin/' in f or '/nvvm/' in f):
            target = os.path.join(out, f)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as src, open(target, 'wb') as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if '/bin/' in f:
                os.chmod(target, 0o755)
PY
  done
  touch "$GPU_SITE/.complete"
}

# @tensorflow/tfjs-node-gpu from npm into its own prefix, install script skipped
# (it would download libtensorflow from Google's storage). Its @tensorflow/tfjs
# must be the repository's own copy: two copies of tfjs-core would register the
# backend with one and run ops through the other.
install_package() {
  if [ ! -f "$PKG_DIR/package.json" ]; then
    log "installing @tensorflow/tfjs-node-gpu@$TFJS_NODE_VERSION from npm into $GPU_PREFIX"
    mkdir -p "$GPU_PREFIX"
    [ -f "$GPU_PREFIX/package.json" ] || echo '{"name":"crlhf-tfjs-node-gpu","private":true}' >"$GPU_PREFIX/package.json"
    npm install --prefix "$GPU_PREFIX" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error \
      "@tensorflow/tfjs-node-gpu@$TFJS_NODE_VERSION" >&2 || die "npm install of @tensorflow/tfjs-node-gpu failed"
  fi
  local d name
  for d in "$GPU_PREFIX"/node_modules/@tensorflow/*; do
    [ "$(basename "$d")" = tfjs-node-gpu ] || rm -rf "$d"
  done
  for d in "$REPO_ROOT"/node_modules/@tensorflow/*; do
    name=$(basename "$d")
    case "$name" in tfjs-node | tfjs-node-gpu) continue ;; esac
    ln -sfn "$d" "$GPU_PREFIX/node_modules/@tensorflow/$name"
  done
}

layout_gpu_deps() {
  layout_deps
  # Whether the loader resolves $ORIGIN through the deps/lib symlinks or not,
  # $ORIGIN/../nvidia reaches the CUDA libraries.
  ln -s "$GPU_SITE/nvidia" "$PKG_DIR/deps/nvidia"
}

# Loads without a GPU too: TensorFlow then logs that no CUDA device was found and runs on the CPU.
gpu_status() {
  (cd "$REPO_ROOT" && PKG_DIR="$PKG_DIR" TF_CPP_MIN_LOG_LEVEL=2 node -e '
    const tf = require(process.env.PKG_DIR);
    const be = tf.backend();
    const y = tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync();
    console.log(JSON.stringify({ backend: tf.getBackend(), gpu: be.isUsingGpuDevice, ok: y[0] === 2 }));
  ')
}

install_gpu() {
  local ok=1
  ( set -e; install_package ) && ( set -e; extract_gpu ) && ( set -e; layout_gpu_deps ) && ( set -e; build_addon ) && loads || ok=0
  [ "$ok" = 1 ] || die "could not build @tensorflow/tfjs-node-gpu (log: $BUILD_LOG)"
  log "tfjs-node-gpu ready in $PKG_DIR: $(gpu_status)"
}

case "${1:-install}" in
  install) install_gpu ;;
  status)
    if [ ! -f "$(addon_path)" ]; then echo "tensorflow-gpu: not built (infra/tensorflow-gpu.sh install)"; exit 1; fi
    echo "tensorflow-gpu: $PKG_DIR $(gpu_status)" ;;
  *) die "usage: $0 install|status" ;;
esac
