#!/usr/bin/env bash
# Makes @tensorflow/tfjs-node work without any website download: TensorFlow's C
# library and headers come from the tensorflow-cpu wheel on PyPI, and the addon
# is built from the package's own sources with node-gyp.
#
#   infra/tensorflow.sh install   fetch (cached), lay out deps/, build (cached) the addon
#   infra/tensorflow.sh status    say whether the addon loads and which backend it gives
#
# Everything heavy is cached under $CRLHF_CACHE_DIR so a second run takes seconds.
# infra/tensorflow-gpu.sh sources this file for the same steps on the GPU build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TF_VERSION=2.21.0
TF_WHEEL="tensorflow_cpu-${TF_VERSION}-cp311-cp311-manylinux_2_27_x86_64.whl"
TF_WHEEL_SHA256=2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c
TFJS_NODE_VERSION=4.22.0

# Bump when patch_binding or patch_data_into changes: the cached addon is keyed by it and by the
# fused kernels' source (infra/kernels/crlhf_kernels.cc).
KERNELS_SRC="$REPO_ROOT/infra/kernels/crlhf_kernels.cc"
BINDING_PATCH=p3-$(sha256sum "$KERNELS_SRC" | cut -c1-12)

# What the steps below work on (tensorflow-gpu.sh sets its own).
TF_DIR="$CRLHF_CACHE_DIR/tensorflow-$TF_VERSION"
TF_LIB_DIR="$TF_DIR/lib"
ADDON_CACHE="$CRLHF_CACHE_DIR/tfjs-node-$TFJS_NODE_VERSION-tf$TF_VERSION-$BINDING_PATCH-$(uname -m)"
PKG_DIR="$REPO_ROOT/node_modules/@tensorflow/tfjs-node"
BUILD_LOG="$CRLHF_CACHE_DIR/tfjs-node-build.log"

# fetch_wheel FILE SHA256 REQUIREMENT: the wheel from PyPI into the cache (once), checked.
fetch_wheel() {
  local file=$1 sha=$2 req=$3
  local dest="$CRLHF_CACHE_DIR/wheels/$file"
  mkdir -p "$CRLHF_CACHE_DIR/wheels"
  if [ ! -f "$dest" ]; then
    log "downloading $file from PyPI (once)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --python-version 3.11 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$CRLHF_CACHE_DIR/wheels" "$req" >&2 \
      || die "pip could not download $req"
  fi
  local got
  got=$(sha256sum "$dest" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    rm -f "$dest"
    die "$file has SHA-256 $got, expected $sha (deleted; rerun to download again)"
  fi
  echo "$dest"
}

# extract_tensorflow WHEEL DIR: the two shared libraries into DIR/lib and the C
# API headers into DIR/include (7 MB of the wheel's 268 MB of headers; kernels.h,
# which infra/kernels/ needs, also includes one next_pluggable_device header).
extract_tensorflow() {
  local wheel=$1 dir=$2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  python3 - "$wheel" "$dir.tmp" <<'PY'
import sys, zipfile, os, shutil
wheel, out = sys.argv[1], sys.argv[2]
keep_inc = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tsl/', 'tensorflow/include/xla/tsl/',
            'tensorflow/include/tensorflow/core/common_runtime/next_pluggable_device/c/')
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        f = info.filename
        if f.endswith('/'):
            continue
        if f in ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'):
            target = os.path.join(out, 'lib', os.path.basename(f))
        elif f.startswith(keep_inc) or (f.startswith('tensorflow/include/') and '/platform/' in f):
            target = os.path.join(out, 'include', f[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# A header kernels.h includes: extractions from before infra/kernels/ lack it.
KERNELS_HEADER=include/tensorflow/core/common_runtime/next_pluggable_device/c/tf_rendezvous_c_api.h

extract_library() {
  if [ -f "$TF_DIR/.complete" ] && [ -f "$TF_DIR/$KERNELS_HEADER" ]; then return 0; fi
  local wheel
  wheel=$(fetch_wheel "$TF_WHEEL" "$TF_WHEEL_SHA256" "tensorflow-cpu==$TF_VERSION")
  log "unpacking TensorFlow $TF_VERSION C library into $TF_DIR"
  extract_tensorflow "$wheel" "$TF_DIR"
}

# tfjs-node links -ltensorflow -ltensorflow_framework from deps/lib with rpath
# $ORIGIN/../../deps/lib; its install script skips the download when
# deps/lib/libtensorflow.so.2.9.1 exists.
layout_deps() {
  local lib="$PKG_DIR/deps/lib"
  rm -rf "$PKG_DIR/deps" && mkdir -p "$lib"
  ln -s "$TF_LIB_DIR/libtensorflow_cc.so.2" "$lib/libtensorflow_cc.so.2"
  ln -s "$TF_LIB_DIR/libtensorflow_framework.so.2" "$lib/libtensorflow_framework.so.2"
  ln -s libtensorflow_cc.so.2 "$lib/libtensorflow.so"
  ln -s libtensorflow_cc.so.2 "$lib/libtensorflow.so.2"
  ln -s libtensorflow_cc.so.2 "$lib/libtensorflow.so.2.9.1"
  ln -s libtensorflow_framework.so.2 "$lib/libtensorflow_framework.so"
  ln -s "$TF_DIR/include" "$PKG_DIR/deps/include"
}

addon_path() { echo "$PKG_DIR/lib/napi-v8/tfjs_binding.node"; }

# The installed addon was built with this BINDING_PATCH (the stamp build_addon
# writes): after a change to the patch or the kernels it is rebuilt.
current() { [ "$(cat "$(addon_path).patch" 2>/dev/null)" = "$BINDING_PATCH" ]; }

# tfjs-node's binding passes string attributes only one at a time; TensorFlow's
# fused kernels (_FusedMatMul: matmul + bias + activation in one kernel) take
# a list of strings. The patch adds lists (TFE_OpSetAttrStringList); rlhf/
# probes for it and runs without fused matmuls on an unpatched build.
patch_binding() {
  python3 - "$PKG_DIR/binding/tfjs_backend.cc" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
marker = '// crlhf: string-list attributes'
if marker in src:
    sys.exit(0)
old = """    case TF_ATTR_STRING: {
      // NOTE: String attribute values do not have to be utf8 encoded strings
      // (could be arbitrary byte sequences).
      std::string str_value;"""
new = """    case TF_ATTR_STRING: {
      """ + marker + """
      if (IsArray(env, nstatus, &js_value)) {
        uint32_t length;
        nstatus = napi_get_array_length(env, js_value, &length);
        ENSURE_NAPI_OK(env, nstatus);
        std::vector<std::string> strings(length);
        std::vector<const void *> values(length);
        std::vector<size_t> lengths(length);
        for (uint32_t i = 0; i < length; ++i) {
          napi_value element;
          nstatus = napi_get_element(env, js_value, i, &element);
          ENSURE_NAPI_OK(env, nstatus);
          nstatus = GetStringParam(env, element, strings[i]);
          ENSURE_NAPI_OK(env, nstatus);
          values[i] = strings[i].data();
          lengths[i] = strings[i].size();
        }
        TFE_OpSetAttrStringList(tfe_op, attr_name, values.data(), lengths.data(),
                                static_cast<int>(length));
        break;
      }
      // NOTE: String attribute values do not have to be utf8 encoded strings
      // (could be arbitrary byte sequences).
      std::string str_value;"""
if old not in src:
    sys.exit('tfjs_backend.cc does not have the expected TF_ATTR_STRING case; cannot patch')
open(path, 'w').write(src.replace(old, new, 1))
PY
}

# The fused kernels (infra/kernels/) are compiled into the addon: one more
# source in binding.gyp, which registers its ops with TensorFlow on load.
add_kernels() {
  cp "$KERNELS_SRC" "$PKG_DIR/binding/crlhf_kernels.cc"
  python3 - "$PKG_DIR/binding.gyp" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
if 'binding/crlhf_kernels.cc' in src:
    sys.exit(0)
old = "'binding/tfjs_binding.cc'"
if old not in src:
    sys.exit('binding.gyp does not list binding/tfjs_binding.cc; cannot add the fused kernels')
open(path, 'w').write(src.replace(old, old + ",\n      'binding/crlhf_kernels.cc'", 1))
PY
}

# tensorDataInto(id, typedArray): a tensor's values copied straight into a
# typed array (a SharedArrayBuffer view included), where tensorDataSync makes
# a fresh ArrayBuffer that the caller then copies again. The data-parallel
# ranks (rlhf/parallel/buffers.ts) write weights and gradients with it.
patch_data_into() {
  python3 - "$PKG_DIR/binding" <<'PY'
import sys, os
d = sys.argv[1]
marker = '// crlhf: tensorDataInto'
# Each edit is applied once: its new text is already there when it has been.
def edit(name, old, new):
    path = os.path.join(d, name)
    src = open(path).read()
    if new in src:
        return
    if old not in src:
        sys.exit(f'{name} does not have the expected text; cannot add tensorDataInto')
    open(path, 'w').write(src.replace(old, new, 1))
edit('tfjs_backend.h', '  napi_value GetTensorData(napi_env env, napi_value tensor_id_value);\n',
     '  napi_value GetTensorData(napi_env env, napi_value tensor_id_value);\n'
     '  ' + marker + '\n'
     '  napi_value TensorDataInto(napi_env env, napi_value tensor_id_value, napi_value array_value);\n')
edit('tfjs_backend.cc', '}  // namespace tfnodejs', marker + """
napi_value TFJSBackend::TensorDataInto(napi_env env, napi_value tensor_id_value, napi_value array_value) {
  int32_t tensor_id;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_value_int32(env, tensor_id_value, &tensor_id), nullptr);
  auto tensor_entry = tfe_handle_map_.find(tensor_id);
  if (tensor_entry == tfe_handle_map_.end()) {
    NAPI_THROW_ERROR(env, "tensorDataInto called on a Tensor not referenced (tensor_id: %d)", tensor_id);
    return nullptr;
  }
  napi_typedarray_type array_type;
  size_t array_length;
  void *array_data;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_typedarray_info(env, array_value, &array_type, &array_length, &array_data, nullptr, nullptr), nullptr);
  size_t width = array_type == napi_float32_array || array_type == napi_int32_array ? 4 : array_type == napi_uint8_array ? 1 : 0;
  TF_AutoStatus tf_status;
  TF_AutoTensor tensor(TFE_TensorHandleResolve(tensor_entry->second, tf_status.status));
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
  size_t byte_length = TF_TensorByteSize(tensor.tensor);
  if (width == 0 || array_length * width != byte_length) {
    NAPI_THROW_ERROR(env, "tensorDataInto: the typed array holds %zu bytes, the tensor %zu", array_length * width, byte_length);
    return nullptr;
  }
  memcpy(array_data, TF_TensorData(tensor.tensor), byte_length);
  napi_value undefined;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_undefined(env, &undefined), nullptr);
  return undefined;
}

}  // namespace tfnodejs""")
edit('tfjs_binding.cc', 'static napi_value ExecuteOp(napi_env env, napi_callback_info info) {', marker + """
static napi_value TensorDataInto(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_value js_this;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_cb_info(env, info, &argc, args, &js_this, nullptr), nullptr);
  if (argc < 2) {
    NAPI_THROW_ERROR(env, "tensorDataInto(id, typedArray) takes 2 args, got %zu", argc);
    return nullptr;
  }
  ENSURE_VALUE_IS_NUMBER_RETVAL(env, args[0], nullptr);
  TFJSBackend *const backend = GetTFJSBackend(env);
  if (!backend) return nullptr;
  return backend->TensorDataInto(env, args[0], args[1]);
}

static napi_value ExecuteOp(napi_env env, napi_callback_info info) {""")
edit('tfjs_binding.cc', '      {"tensorDataSync", nullptr, TensorDataSync, nullptr, nullptr, nullptr,\n       napi_default, nullptr},',
     '      {"tensorDataSync", nullptr, TensorDataSync, nullptr, nullptr, nullptr,\n       napi_default, nullptr},\n'
     '      {"tensorDataInto", nullptr, TensorDataInto, nullptr, nullptr, nullptr,\n       napi_default, nullptr},')
PY
}

loads() {
  (cd "$REPO_ROOT" && PKG_DIR="$PKG_DIR" node -e '
    const tf = require(process.env.PKG_DIR);
    if (tf.getBackend() !== "tensorflow") process.exit(3);
    tf.matMul(tf.ones([2,2]), tf.ones([2,2])).dataSync();
  ' >/dev/null 2>&1)
}

# The addon takes string-list attributes (patch_binding): one fused matmul runs;
# it has the fused kernels (add_kernels): gelu(1) = 0.8412; and tensorDataInto (patch_data_into).
patched() {
  (cd "$REPO_ROOT" && PKG_DIR="$PKG_DIR" node -e '
    const tf = require(process.env.PKG_DIR);
    const be = tf.backend(), b = be.binding;
    const a = (name, type, value) => ({ name, type, value });
    const y = be.executeSingleOutput("_FusedMatMul", [a("T", b.TF_ATTR_TYPE, b.TF_FLOAT), a("transpose_a", b.TF_ATTR_BOOL, false),
      a("transpose_b", b.TF_ATTR_BOOL, false), a("fused_ops", b.TF_ATTR_STRING, ["BiasAdd"]), a("num_args", b.TF_ATTR_INT, 1),
      a("epsilon", b.TF_ATTR_FLOAT, 0.0001)], [tf.ones([2, 2]), tf.ones([2, 2]), tf.ones([2])]);
    if (y.dataSync()[0] !== 3) process.exit(4);
    const g = be.executeSingleOutput("CrlhfGelu", [], [tf.ones([1])]).dataSync()[0];
    if (Math.abs(g - 0.8411920) > 1e-6) process.exit(5);
    const into = new Float32Array(2);
    b.tensorDataInto(be.getInputTensorIds([tf.tensor1d([5, 6])])[0], into);
    if (into[1] !== 6) process.exit(6);
  ' >/dev/null 2>&1)
}

build_addon() {
  local start
  start=$(now)
  if [ -f "$ADDON_CACHE/tfjs_binding.node" ]; then
    mkdir -p "$(dirname "$(addon_path)")"
    cp "$ADDON_CACHE/tfjs_binding.node" "$(addon_path)"
    if loads && patched; then echo "$BINDING_PATCH" >"$(addon_path).patch"; log "addon restored from cache ($ADDON_CACHE)"; return 0; fi
    log "cached addon does not load; rebuilding"
  fi
  patch_binding || return 1
  patch_data_into || return 1
  add_kernels || return 1
  log "building the addon in $PKG_DIR from source against $TF_DIR (about 15 s)"
  # node-gyp would download Node's headers; the ones installed with node are used instead.
  local nodedir node_gyp
  nodedir=$(node -p 'require("path").resolve(process.execPath, "../..")')
  [ -f "$nodedir/include/node/node_api.h" ] || { log "Node's headers are not in $nodedir/include/node"; return 1; }
  node_gyp="$(npm prefix -g)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$node_gyp" ] || { log "node-gyp not found at $node_gyp"; return 1; }
  (cd "$PKG_DIR" && node "$node_gyp" rebuild --nodedir="$nodedir" --jobs=max \
      --module_name=tfjs_binding --module_path="$(dirname "$(addon_path)")" \
      --napi_build_version=8 >"$BUILD_LOG" 2>&1) \
    || { tail -20 "$BUILD_LOG" >&2; return 1; }
  mkdir -p "$ADDON_CACHE"
  cp "$(addon_path)" "$ADDON_CACHE/tfjs_binding.node.tmp" && mv "$ADDON_CACHE/tfjs_binding.node.tmp" "$ADDON_CACHE/tfjs_binding.node"
  echo "$BINDING_PATCH" >"$(addon_path).patch"
  log "addon built in $(( $(now) - start ))s"
}

install() {
  [ -d "$PKG_DIR" ] || die "$PKG_DIR is missing: run 'npm ci' first"
  if current && loads && patched; then log "tfjs-node already works (backend tensorflow, fused-op patch $BINDING_PATCH)"; return 0; fi
  local ok=1
  # Each step runs on its own line: `set -e` does not apply inside a function
  # called from an `||` list, so a chained failure would go unnoticed.
  ( set -e; extract_library ) && ( set -e; layout_deps ) && ( set -e; build_addon ) && loads || ok=0
  if [ "$ok" = 0 ]; then
    log "WARNING: could not build @tensorflow/tfjs-node; crlhf falls back to the wasm backend (slower). Log: $BUILD_LOG"
    return 0
  fi
  log "tfjs-node ready: backend tensorflow (TensorFlow $TF_VERSION C library)"
}

# Run, not sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-install}" in
    install) install ;;
    status)
      if ! loads; then echo "tensorflow: not built"; exit 1; fi
      if patched; then echo "tensorflow: ok (TensorFlow $TF_VERSION, fused-op patch $BINDING_PATCH)"; else echo "tensorflow: ok (TensorFlow $TF_VERSION, without the fused-op patch: run infra/tensorflow.sh install)"; fi ;;
    *) die "usage: $0 install|status" ;;
  esac
fi
