// Fused CPU kernels for the transformer's elementwise work, registered with
// TensorFlow through its C API (tensorflow/c/kernels.h, ops.h) when the
// tfjs-node addon loads. infra/tensorflow.sh compiles this file into the
// addon; rlhf/native.ts runs the ops by name and falls back to TensorFlow's
// own kernels where they are missing.
//
// Why: a training step's LayerNorm, GELU and attention softmax are ~180 small
// TensorFlow ops (Mul, Sub, Mean, Sigmoid, ...). Each pass reads and writes
// the whole activation, and the wheel's Eigen kernels are built for SSE only
// (TensorFlow logs "rebuild with AVX2 FMA"). One pass per op here, compiled
// for AVX2+FMA (registered where the CPU has them).
//
// Numerics follow rlhf/ops.ts's formulas; test/rlhf/fused-kernels.test.ts
// compares each op with the composed version.
//
// Ops (float32, row-major, the last axis is the row):
//   CrlhfLayerNorm(x[..., d], gamma[d], beta[d]; epsilon) -> y, mean[rows], rstd[rows]
//   CrlhfLayerNormGrad(dy, x, gamma, mean, rstd) -> dx, dgamma[d], dbeta[d]
//   CrlhfNormalize(x[..., d]; epsilon) -> (x − mean)/sqrt(var + eps)   (no gain or bias)
//   CrlhfAddNormalize(a, b; epsilon) -> a + b, normalize(a + b)
//   CrlhfGelu(x) -> x·σ(2c(x + a·x³))           (GPT-2's tanh approximation)
//   CrlhfGeluGrad(dy, x) -> dy·d/dx gelu(x)
//   CrlhfAttentionSoftmax(scores[B,H,Tq,Tk], bias[B,1,Tq,Tk]; scale) -> softmax(scale·scores + bias)
//   CrlhfSoftmaxGrad(p[..., T], dp; scale) -> scale·p·(dp − Σ p·dp)
//   CrlhfAdamW(p, m, v, g, coef[], hyper[decay, α, 1−β1, 1−β2, ε̂]) -> p_new
//     (m and v updated in place)
//   CrlhfDecodeAttention(qkv[B,3d], keys[B,H,C,hd], values, bias[B,L]) -> y[B,d]
//     one decoding step: writes the new key/value into cache column L − 1 (in
//     place) and attends over columns [0, L)
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"

// On x86 the kernels are compiled for AVX2 and FMA and registered only on
// CPUs that have them: compiled for the baseline (SSE2), GCC splits the
// 8-wide vectors below into scalar code, slower than TensorFlow's own ops.
#if defined(__x86_64__)
#define CRLHF_SIMD __attribute__((target("avx2,fma")))
#define CRLHF_CPU_OK() (__builtin_cpu_init(), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#else
#define CRLHF_SIMD
#define CRLHF_CPU_OK() true
#endif
#define CRLHF_INLINE static inline __attribute__((always_inline))
// The vector helpers are always inlined, so no 32-byte vector crosses a call
// and the default clone's ABI note does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace {

// ------------------------------------------------------------------ math

// Eight floats at a time with GCC's vector extensions: one AVX register in the
// haswell clone, two SSE ones in the default clone. The compiler does not
// vectorize these loops itself: exp's clamps, and sums whose order it may not
// change without -ffast-math.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

CRLHF_INLINE v8f load(const float* p) {
  v8f v;
  memcpy(&v, p, sizeof v);
  return v;
}
CRLHF_INLINE void store(float* p, v8f v) { memcpy(p, &v, sizeof v); }
CRLHF_INLINE v8f splat(float x) { return v8f{} + x; }
CRLHF_INLINE float hsum(v8f v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }
CRLHF_INLINE float hmax(v8f v) {
  float m = v[0];
  for (int k = 1; k < 8; ++k) m = v[k] > m ? v[k] : m;
  return m;
}

// e^x to ~1 ulp (Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, a degree-6
// polynomial in r, then ·2^n, with n rounded by adding 1.5·2^23). Below
// −87.3 (2^n would be subnormal) it returns 0, where expf gives < 1.2e-38.
CRLHF_INLINE v8f vexp(v8f x) {
  const v8f hi = splat(88.37626f), lo = splat(-87.33654f);
  v8f xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  const v8f t = xc * 1.44269504088896341f + 12582912.0f;
  const v8f n = t - 12582912.0f;
  v8i ni;
  memcpy(&ni, &t, sizeof ni);
  ni -= 0x4B400000;  // the bits of 1.5·2^23: what is left is n
  v8f r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  v8f p = splat(1.9875691500E-4f);
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  const v8i bits = (ni + 127) << 23;
  v8f scale;
  memcpy(&scale, &bits, sizeof scale);
  return x < lo ? splat(0) : p * scale;
}

// The same for one float (loop tails), through lane 0.
CRLHF_INLINE float fexp(float x) { return vexp(splat(x))[0]; }

CRLHF_INLINE v8f vsigmoid(v8f z) { return 1.0f / (1.0f + vexp(-z)); }

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/π)
constexpr float kGeluA = 0.044715f;

// x·σ(z), z = 2c(x + a·x³): GELU's tanh form, since ½(1 + tanh(u)) = σ(2u).
CRLHF_INLINE v8f vgelu(v8f x) { return x * vsigmoid(x * (x * x * (2 * kGeluC * kGeluA) + 2 * kGeluC)); }

// dy·(σ + x·σ(1−σ)·z'), z' = 2c(1 + 3a·x²)
CRLHF_INLINE v8f vgeluGrad(v8f dy, v8f x) {
  const v8f x2 = x * x;
  const v8f s = vsigmoid(x * (x2 * (2 * kGeluC * kGeluA) + 2 * kGeluC));
  return dy * (s + x * s * (1.0f - s) * (x2 * (6 * kGeluC * kGeluA) + 2 * kGeluC));
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) CRLHF_INLINE v8f vsqrt(v8f x) { return __builtin_ia32_sqrtps256(x); }
#else
CRLHF_INLINE v8f vsqrt(v8f x) {
  for (int k = 0; k < 8; ++k) x[k] = sqrtf(x[k]);
  return x;
}
#endif

// --------------------------------------------------------------- kernels
//
// Loops run eight columns at a time, then the tail one at a time with the
// same formulas.

// A row's mean and 1/sqrt(var + eps), in two passes (mean first, as tf.moments).
CRLHF_INLINE void row_stats(const float* x, int64_t d, float eps, float* mean_out, float* rstd_out) {
  const int64_t d8 = d & ~int64_t(7);
  v8f acc{};
  for (int64_t j = 0; j < d8; j += 8) acc += load(x + j);
  float s = hsum(acc);
  for (int64_t j = d8; j < d; ++j) s += x[j];
  const float mean = s / (float)d;
  acc = v8f{};
  for (int64_t j = 0; j < d8; j += 8) {
    const v8f c = load(x + j) - mean;
    acc += c * c;
  }
  float v = hsum(acc);
  for (int64_t j = d8; j < d; ++j) v += (x[j] - mean) * (x[j] - mean);
  *mean_out = mean;
  *rstd_out = 1.0f / sqrtf(v / (float)d + eps);
}

CRLHF_SIMD void layer_norm(const float* x, const float* g, const float* b, float eps, int64_t rows, int64_t d,
                             float* y, float* mean_out, float* rstd_out) {
  const int64_t d8 = d & ~int64_t(7);
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * d;
    float* yr = y + i * d;
    float mean, rstd;
    row_stats(xr, d, eps, &mean, &rstd);
    for (int64_t j = 0; j < d8; j += 8) store(yr + j, (load(xr + j) - mean) * rstd * load(g + j) + load(b + j));
    for (int64_t j = d8; j < d; ++j) yr[j] = (xr[j] - mean) * rstd * g[j] + b[j];
    mean_out[i] = mean;
    rstd_out[i] = rstd;
  }
}

// (x − mean)/sqrt(var + eps) per row of x = a (+ b, written to sum when b is
// given): the decoding pass's LayerNorm, whose gain and bias are folded
// into the next product's weights, and the residual add before it.
CRLHF_SIMD void normalize(const float* a, const float* b, float eps, int64_t rows, int64_t d, float* sum, float* y) {
  const int64_t d8 = d & ~int64_t(7);
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = a + i * d;
    if (b) {
      const float* br = b + i * d;
      float* sr = sum + i * d;
      for (int64_t j = 0; j < d8; j += 8) store(sr + j, load(x + j) + load(br + j));
      for (int64_t j = d8; j < d; ++j) sr[j] = x[j] + br[j];
      x = sr;
    }
    float* yr = y + i * d;
    float mean, rstd;
    row_stats(x, d, eps, &mean, &rstd);
    for (int64_t j = 0; j < d8; j += 8) store(yr + j, (load(x + j) - mean) * rstd);
    for (int64_t j = d8; j < d; ++j) yr[j] = (x[j] - mean) * rstd;
  }
}

// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ; dγ = Σ dy·x̂ and
// dβ = Σ dy over rows: in float over blocks of 64 rows, then in double
// (thousands of rows). dg, db and the block sums fg, fb have d entries.
CRLHF_SIMD void layer_norm_grad(const float* dy, const float* x, const float* g, const float* mean,
                                  const float* rstd, int64_t rows, int64_t d, float* dx, double* dg, double* db,
                                  float* fg, float* fb) {
  const int64_t d8 = d & ~int64_t(7);
  for (int64_t j = 0; j < d; ++j) dg[j] = db[j] = fg[j] = fb[j] = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* dyr = dy + i * d;
    const float* xr = x + i * d;
    float* dxr = dx + i * d;
    const float m = mean[i], r = rstd[i];
    v8f ag{}, agx{};
    for (int64_t j = 0; j < d8; j += 8) {
      const v8f dyv = load(dyr + j);
      const v8f xh = (load(xr + j) - m) * r;
      const v8f gh = dyv * load(g + j);
      ag += gh;
      agx += gh * xh;
      store(fg + j, load(fg + j) + dyv * xh);
      store(fb + j, load(fb + j) + dyv);
    }
    float sg = hsum(ag), sgx = hsum(agx);
    for (int64_t j = d8; j < d; ++j) {
      const float xh = (xr[j] - m) * r;
      const float gh = dyr[j] * g[j];
      sg += gh;
      sgx += gh * xh;
      fg[j] += dyr[j] * xh;
      fb[j] += dyr[j];
    }
    const float a = sg / (float)d, bb = sgx / (float)d;
    for (int64_t j = 0; j < d8; j += 8) {
      const v8f xh = (load(xr + j) - m) * r;
      store(dxr + j, r * (load(dyr + j) * load(g + j) - a - xh * bb));
    }
    for (int64_t j = d8; j < d; ++j) dxr[j] = r * (dyr[j] * g[j] - a - (xr[j] - m) * r * bb);
    if (i % 64 == 63 || i == rows - 1) {
      for (int64_t j = 0; j < d; ++j) {
        dg[j] += fg[j];
        db[j] += fb[j];
        fg[j] = fb[j] = 0;
      }
    }
  }
}

CRLHF_SIMD void gelu(const float* x, int64_t n, float* y) {
  const int64_t n8 = n & ~int64_t(7);
  for (int64_t i = 0; i < n8; i += 8) store(y + i, vgelu(load(x + i)));
  for (int64_t i = n8; i < n; ++i) y[i] = vgelu(splat(x[i]))[0];
}

CRLHF_SIMD void gelu_grad(const float* dy, const float* x, int64_t n, float* dx) {
  const int64_t n8 = n & ~int64_t(7);
  for (int64_t i = 0; i < n8; i += 8) store(dx + i, vgeluGrad(load(dy + i), load(x + i)));
  for (int64_t i = n8; i < n; ++i) dx[i] = vgeluGrad(splat(dy[i]), splat(x[i]))[0];
}

// z ← exp(z − mx) / Σ exp(z − mx) over a row of n values (mx its maximum).
CRLHF_INLINE void exp_normalize(float* z, int64_t n, float mx) {
  const int64_t n8 = n & ~int64_t(7);
  v8f acc{};
  for (int64_t j = 0; j < n8; j += 8) {
    const v8f e = vexp(load(z + j) - mx);
    store(z + j, e);
    acc += e;
  }
  float sum = hsum(acc);
  for (int64_t j = n8; j < n; ++j) {
    const float e = fexp(z[j] - mx);
    z[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n8; j += 8) store(z + j, load(z + j) * inv);
  for (int64_t j = n8; j < n; ++j) z[j] *= inv;
}

CRLHF_INLINE float dot(const float* a, const float* b, int64_t n) {
  const int64_t n8 = n & ~int64_t(7);
  v8f acc{};
  for (int64_t i = 0; i < n8; i += 8) acc += load(a + i) * load(b + i);
  float s = hsum(acc);
  for (int64_t i = n8; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Rows of `cols` scores; row r of head h of batch b uses bias row (b, r).
CRLHF_SIMD void attention_softmax(const float* s, const float* bias, float scale, int64_t batch, int64_t heads,
                                    int64_t rows, int64_t cols, float* p) {
  const int64_t c8 = cols & ~int64_t(7);
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = (bi * heads + h) * rows + r;
        const float* sr = s + row * cols;
        const float* br = bias + (bi * rows + r) * cols;
        float* pr = p + row * cols;
        v8f vm = splat(-INFINITY);
        for (int64_t j = 0; j < c8; j += 8) {
          const v8f z = load(sr + j) * scale + load(br + j);
          store(pr + j, z);
          vm = z > vm ? z : vm;
        }
        float mx = hmax(vm);
        for (int64_t j = c8; j < cols; ++j) {
          const float z = sr[j] * scale + br[j];
          pr[j] = z;
          mx = z > mx ? z : mx;
        }
        exp_normalize(pr, cols, mx);
      }
    }
  }
}

CRLHF_SIMD void softmax_grad(const float* p, const float* dp, float scale, int64_t rows, int64_t cols, float* ds) {
  const int64_t c8 = cols & ~int64_t(7);
  for (int64_t i = 0; i < rows; ++i) {
    const float* pr = p + i * cols;
    const float* dpr = dp + i * cols;
    float* dsr = ds + i * cols;
    const float pd = dot(pr, dpr, cols);
    for (int64_t j = 0; j < c8; j += 8) store(dsr + j, scale * load(pr + j) * (load(dpr + j) - pd));
    for (int64_t j = c8; j < cols; ++j) dsr[j] = scale * pr[j] * (dpr[j] - pd);
  }
}

// One decoding step's attention for every row and head: the new key and value
// (from qkv) are written into cache column t = L − 1 in place, then
// y = softmax(q·Kᵀ + bias)·V over columns [0, L). q comes pre-scaled by
// 1/sqrt(hd) (the session folds the scale into its weights). `w` is scratch
// for L weights.
CRLHF_SIMD void decode_attention(const float* qkv, float* kc, float* vc, const float* bias, int64_t B, int64_t H,
                                 int64_t C, int64_t hd, int64_t L, float* y, float* w) {
  const int64_t d = H * hd, t = L - 1;
  const int64_t hd8 = hd & ~int64_t(7);
  for (int64_t b = 0; b < B; ++b) {
    const float* br = bias + b * L;
    for (int64_t h = 0; h < H; ++h) {
      const float* q = qkv + b * 3 * d + h * hd;
      float* K = kc + (b * H + h) * C * hd;
      float* V = vc + (b * H + h) * C * hd;
      memcpy(K + t * hd, q + d, hd * sizeof(float));
      memcpy(V + t * hd, q + 2 * d, hd * sizeof(float));
      float mx = -INFINITY;
      for (int64_t j = 0; j < L; ++j) {
        const float z = dot(q, K + j * hd, hd) + br[j];
        w[j] = z;
        mx = z > mx ? z : mx;
      }
      exp_normalize(w, L, mx);
      float* out = y + b * d + h * hd;
      for (int64_t i = 0; i < hd; ++i) out[i] = 0;
      for (int64_t j = 0; j < L; ++j) {
        const float pj = w[j];
        const float* vj = V + j * hd;
        for (int64_t i = 0; i < hd8; i += 8) store(out + i, load(out + i) + pj * load(vj + i));
        for (int64_t i = hd8; i < hd; ++i) out[i] += pj * vj[i];
      }
    }
  }
}

// AdamW for one parameter in one pass, in TensorFlow's ApplyAdam form with
// the decoupled decay first: g ← g·coef; m += (g − m)(1 − β1);
// v += (g² − v)(1 − β2); p ← p·decay − α·m/(sqrt(v) + ε̂). m and v in place.
CRLHF_SIMD void adamw(const float* p, float* m, float* v, const float* g, float coef, float decay, float alpha,
                      float omb1, float omb2, float eps, int64_t n, float* out) {
  const int64_t n8 = n & ~int64_t(7);
  for (int64_t i = 0; i < n8; i += 8) {
    const v8f gi = load(g + i) * coef;
    const v8f mi = load(m + i) + (gi - load(m + i)) * omb1;
    const v8f vi = load(v + i) + (gi * gi - load(v + i)) * omb2;
    store(m + i, mi);
    store(v + i, vi);
    store(out + i, load(p + i) * decay - alpha * mi / (vsqrt(vi) + eps));
  }
  for (int64_t i = n8; i < n; ++i) {
    const float gi = g[i] * coef;
    m[i] += (gi - m[i]) * omb1;
    v[i] += (gi * gi - v[i]) * omb2;
    out[i] = p[i] * decay - alpha * m[i] / (sqrtf(v[i]) + eps);
  }
}

// ------------------------------------------------------- TensorFlow glue

// Inputs are fetched and released by one object so every return path frees them.
class Io {
 public:
  Io(TF_OpKernelContext* ctx, int inputs) : ctx_(ctx), status_(TF_NewStatus()), in_(inputs, nullptr) {
    for (int i = 0; i < inputs && ok(); ++i) TF_GetInput(ctx, i, &in_[i], status_);
  }
  ~Io() {
    for (TF_Tensor* t : in_)
      if (t) TF_DeleteTensor(t);
    for (TF_Tensor* t : out_) TF_DeleteTensor(t);
    TF_DeleteStatus(status_);
  }
  bool ok() const { return TF_GetCode(status_) == TF_OK; }
  TF_Tensor* in(int i) const { return in_[i]; }
  const float* data(int i) const { return static_cast<const float*>(TF_TensorData(in_[i])); }
  int64_t count(int i) const { return TF_TensorElementCount(in_[i]); }
  int rank(int i) const { return TF_NumDims(in_[i]); }
  int64_t dim(int i, int axis) const { return TF_Dim(in_[i], axis); }
  /** Last-axis length of input i (1 for a scalar). */
  int64_t last(int i) const { return rank(i) == 0 ? 1 : dim(i, rank(i) - 1); }

  /** Fails the op with `message` (InvalidArgument) and returns false. */
  bool fail(const char* message) {
    TF_SetStatus(status_, TF_INVALID_ARGUMENT, message);
    TF_OpKernelContext_Failure(ctx_, status_);
    return false;
  }
  /** Fails the op unless every input is float32; true when they all are. */
  bool floats() {
    if (!ok()) {
      TF_OpKernelContext_Failure(ctx_, status_);
      return false;
    }
    for (TF_Tensor* t : in_)
      if (TF_TensorType(t) != TF_FLOAT) return fail("crlhf fused kernels take float32 inputs only");
    return true;
  }

  /** A float32 output shaped like input `like` (outputLike) or `dims`, or nullptr after failing the op. */
  float* outputLike(int index, int like) {
    std::vector<int64_t> dims(rank(like));
    for (int a = 0; a < rank(like); ++a) dims[a] = dim(like, a);
    return output(index, dims);
  }
  float* output(int index, const std::vector<int64_t>& dims) {
    int64_t n = 1;
    for (int64_t v : dims) n *= v;
    TF_Tensor* t = TF_AllocateOutput(ctx_, index, TF_FLOAT, dims.data(), (int)dims.size(), n * sizeof(float), status_);
    if (!ok()) {
      TF_OpKernelContext_Failure(ctx_, status_);
      return nullptr;
    }
    out_.push_back(t);
    return static_cast<float*>(TF_TensorData(t));
  }

 private:
  TF_OpKernelContext* ctx_;
  TF_Status* status_;
  std::vector<TF_Tensor*> in_;
  std::vector<TF_Tensor*> out_;
};

/** The shape of input `i` without its last axis: the per-row statistics' shape. */
std::vector<int64_t> rowShape(const Io& io, int i) {
  std::vector<int64_t> dims;
  for (int a = 0; a + 1 < io.rank(i); ++a) dims.push_back(io.dim(i, a));
  return dims;
}

bool sameShape(const Io& io, int a, int b) {
  if (io.rank(a) != io.rank(b)) return false;
  for (int k = 0; k < io.rank(a); ++k)
    if (io.dim(a, k) != io.dim(b, k)) return false;
  return true;
}

// Kernels with a float attribute keep it as their state.
void* readAttr(TF_OpKernelConstruction* ctx, const char* name) {
  float* v = new float(0);
  TF_Status* s = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrFloat(ctx, name, v, s);
  if (TF_GetCode(s) != TF_OK) TF_OpKernelConstruction_Failure(ctx, s);
  TF_DeleteStatus(s);
  return v;
}
void* readEpsilon(TF_OpKernelConstruction* ctx) { return readAttr(ctx, "epsilon"); }
void* readScale(TF_OpKernelConstruction* ctx) { return readAttr(ctx, "scale"); }
void deleteAttr(void* v) { delete static_cast<float*>(v); }

void computeLayerNorm(void* state, TF_OpKernelContext* ctx) {
  Io io(ctx, 3);
  if (!io.floats()) return;
  const int64_t d = io.last(0);
  if (io.rank(0) < 1 || io.count(1) != d || io.count(2) != d) return (void)io.fail("CrlhfLayerNorm: gamma and beta must have x's last dimension");
  const int64_t rows = d == 0 ? 0 : io.count(0) / d;
  float* y = io.outputLike(0, 0);
  float* mean = y ? io.output(1, rowShape(io, 0)) : nullptr;
  float* rstd = mean ? io.output(2, rowShape(io, 0)) : nullptr;
  if (!rstd) return;
  layer_norm(io.data(0), io.data(1), io.data(2), *static_cast<float*>(state), rows, d, y, mean, rstd);
}

void computeNormalize(void* state, TF_OpKernelContext* ctx) {
  Io io(ctx, 1);
  if (!io.floats()) return;
  if (io.rank(0) < 1) return (void)io.fail("CrlhfNormalize: x must have at least one dimension");
  const int64_t d = io.last(0);
  float* y = io.outputLike(0, 0);
  if (y) normalize(io.data(0), nullptr, *static_cast<float*>(state), d == 0 ? 0 : io.count(0) / d, d, nullptr, y);
}

void computeAddNormalize(void* state, TF_OpKernelContext* ctx) {
  Io io(ctx, 2);
  if (!io.floats()) return;
  if (io.rank(0) < 1 || !sameShape(io, 0, 1)) return (void)io.fail("CrlhfAddNormalize: a and b must have one shape");
  const int64_t d = io.last(0);
  float* sum = io.outputLike(0, 0);
  float* y = sum ? io.outputLike(1, 0) : nullptr;
  if (y) normalize(io.data(0), io.data(1), *static_cast<float*>(state), d == 0 ? 0 : io.count(0) / d, d, sum, y);
}

void computeLayerNormGrad(void*, TF_OpKernelContext* ctx) {
  Io io(ctx, 5);
  if (!io.floats()) return;
  const int64_t d = io.last(1);
  const int64_t rows = d == 0 ? 0 : io.count(1) / d;
  if (io.rank(1) < 1 || !sameShape(io, 0, 1) || io.count(2) != d || io.count(3) != rows || io.count(4) != rows)
    return (void)io.fail("CrlhfLayerNormGrad: dy and x must match, gamma must have x's last dimension, mean and rstd one value per row");
  float* dx = io.outputLike(0, 1);
  float* dg = dx ? io.output(1, {d}) : nullptr;
  float* db = dg ? io.output(2, {d}) : nullptr;
  if (!db) return;
  std::vector<double> sg(d), sb(d);
  std::vector<float> fg(d), fb(d);
  layer_norm_grad(io.data(0), io.data(1), io.data(2), io.data(3), io.data(4), rows, d, dx, sg.data(), sb.data(), fg.data(), fb.data());
  for (int64_t j = 0; j < d; ++j) {
    dg[j] = (float)sg[j];
    db[j] = (float)sb[j];
  }
}

void computeGelu(void*, TF_OpKernelContext* ctx) {
  Io io(ctx, 1);
  if (!io.floats()) return;
  float* y = io.outputLike(0, 0);
  if (y) gelu(io.data(0), io.count(0), y);
}

void computeGeluGrad(void*, TF_OpKernelContext* ctx) {
  Io io(ctx, 2);
  if (!io.floats()) return;
  if (!sameShape(io, 0, 1)) return (void)io.fail("CrlhfGeluGrad: dy and x must have one shape");
  float* dx = io.outputLike(0, 1);
  if (dx) gelu_grad(io.data(0), io.data(1), io.count(1), dx);
}

void computeAttentionSoftmax(void* state, TF_OpKernelContext* ctx) {
  Io io(ctx, 2);
  if (!io.floats()) return;
  if (io.rank(0) != 4 || io.rank(1) != 4 || io.dim(1, 0) != io.dim(0, 0) || io.dim(1, 1) != 1 ||
      io.dim(1, 2) != io.dim(0, 2) || io.dim(1, 3) != io.dim(0, 3))
    return (void)io.fail("CrlhfAttentionSoftmax: scores must be [B,H,Tq,Tk] and bias [B,1,Tq,Tk]");
  float* p = io.outputLike(0, 0);
  if (p)
    attention_softmax(io.data(0), io.data(1), *static_cast<float*>(state), io.dim(0, 0), io.dim(0, 1), io.dim(0, 2),
                      io.dim(0, 3), p);
}

void computeSoftmaxGrad(void* state, TF_OpKernelContext* ctx) {
  Io io(ctx, 2);
  if (!io.floats()) return;
  if (io.rank(0) < 1 || !sameShape(io, 0, 1)) return (void)io.fail("CrlhfSoftmaxGrad: p and dp must have one shape");
  const int64_t cols = io.last(0);
  float* ds = io.outputLike(0, 0);
  if (ds) softmax_grad(io.data(0), io.data(1), *static_cast<float*>(state), cols == 0 ? 0 : io.count(0) / cols, cols, ds);
}

// Writes into its cache inputs: the decoder (rlhf/decode-native.ts) owns
// those tensors alone, made for this by PadV2, and never shares them.
void computeDecodeAttention(void*, TF_OpKernelContext* ctx) {
  Io io(ctx, 4);
  if (!io.floats()) return;
  const bool shapes = io.rank(0) == 2 && io.rank(1) == 4 && sameShape(io, 1, 2) && io.rank(3) == 2;
  const int64_t B = shapes ? io.dim(1, 0) : 0, H = shapes ? io.dim(1, 1) : 0, C = shapes ? io.dim(1, 2) : 0,
                hd = shapes ? io.dim(1, 3) : 0, L = shapes ? io.dim(3, 1) : 0;
  if (!shapes || io.dim(0, 0) != B || io.dim(0, 1) != 3 * H * hd || io.dim(3, 0) != B || L < 1 || L > C)
    return (void)io.fail("CrlhfDecodeAttention: qkv must be [B,3·H·hd], the caches [B,H,C,hd] and bias [B,L] with 1 <= L <= C");
  float* y = io.output(0, {B, H * hd});
  if (!y) return;
  std::vector<float> w(L);
  decode_attention(io.data(0), static_cast<float*>(TF_TensorData(io.in(1))), static_cast<float*>(TF_TensorData(io.in(2))),
                   io.data(3), B, H, C, hd, L, y, w.data());
}

// Writes into its moment inputs, which the optimizer (rlhf/optim.ts) owns alone.
void computeAdamW(void*, TF_OpKernelContext* ctx) {
  Io io(ctx, 6);
  if (!io.floats()) return;
  if (!sameShape(io, 0, 1) || !sameShape(io, 0, 2) || !sameShape(io, 0, 3) || io.count(4) != 1 || io.count(5) != 5)
    return (void)io.fail("CrlhfAdamW: p, m, v and g must have one shape, coef one value and hyper five");
  float* out = io.outputLike(0, 0);
  if (!out) return;
  const float* h = io.data(5);
  adamw(io.data(0), static_cast<float*>(TF_TensorData(io.in(1))), static_cast<float*>(TF_TensorData(io.in(2))), io.data(3),
        io.data(4)[0], h[0], h[1], h[2], h[3], h[4], io.count(0), out);
}

struct OpSpec {
  const char* name;
  std::vector<const char*> inputs, outputs, attrs;
  void* (*create)(TF_OpKernelConstruction*);
  void (*compute)(void*, TF_OpKernelContext*);
  void (*destroy)(void*);
  /** Writes into an input (TensorFlow must not merge or reorder calls). */
  bool stateful = false;
};

// Registers each op and its CPU kernel once, when the addon is loaded. A
// failure (or a CPU without AVX2) leaves the ops unregistered; native.ts then
// uses TensorFlow's own ops.
struct Registrar {
  Registrar() {
    if (!CRLHF_CPU_OK()) return;
    const OpSpec specs[] = {
        {"CrlhfLayerNorm", {"x: float", "gamma: float", "beta: float"}, {"y: float", "mean: float", "rstd: float"}, {"epsilon: float"}, readEpsilon, computeLayerNorm, deleteAttr},
        {"CrlhfLayerNormGrad", {"dy: float", "x: float", "gamma: float", "mean: float", "rstd: float"}, {"dx: float", "dgamma: float", "dbeta: float"}, {}, nullptr, computeLayerNormGrad, nullptr},
        {"CrlhfNormalize", {"x: float"}, {"y: float"}, {"epsilon: float"}, readEpsilon, computeNormalize, deleteAttr},
        {"CrlhfAddNormalize", {"a: float", "b: float"}, {"sum: float", "y: float"}, {"epsilon: float"}, readEpsilon, computeAddNormalize, deleteAttr},
        {"CrlhfGelu", {"x: float"}, {"y: float"}, {}, nullptr, computeGelu, nullptr},
        {"CrlhfGeluGrad", {"dy: float", "x: float"}, {"dx: float"}, {}, nullptr, computeGeluGrad, nullptr},
        {"CrlhfAttentionSoftmax", {"scores: float", "bias: float"}, {"p: float"}, {"scale: float"}, readScale, computeAttentionSoftmax, deleteAttr},
        {"CrlhfSoftmaxGrad", {"p: float", "dp: float"}, {"ds: float"}, {"scale: float"}, readScale, computeSoftmaxGrad, deleteAttr},
        {"CrlhfAdamW", {"p: float", "m: float", "v: float", "g: float", "coef: float", "hyper: float"}, {"p_new: float"}, {}, nullptr, computeAdamW, nullptr, true},
        {"CrlhfDecodeAttention", {"qkv: float", "keys: float", "values: float", "bias: float"}, {"y: float"}, {}, nullptr, computeDecodeAttention, nullptr, true},
    };
    TF_Status* status = TF_NewStatus();
    for (const OpSpec& op : specs) {
      TF_OpDefinitionBuilder* def = TF_NewOpDefinitionBuilder(op.name);
      for (const char* s : op.inputs) TF_OpDefinitionBuilderAddInput(def, s);
      for (const char* s : op.outputs) TF_OpDefinitionBuilderAddOutput(def, s);
      for (const char* s : op.attrs) TF_OpDefinitionBuilderAddAttr(def, s);
      TF_OpDefinitionBuilderSetIsStateful(def, op.stateful);
      TF_RegisterOpDefinition(def, status);
      if (TF_GetCode(status) != TF_OK) continue;
      TF_KernelBuilder* kernel = TF_NewKernelBuilder(op.name, "CPU", op.create, op.compute, op.destroy);
      TF_RegisterKernelBuilder(op.name, kernel, status);
    }
    TF_DeleteStatus(status);
  }
};

const Registrar registrar;

}  // namespace
