// Pooling (max keeps oneDNN's workspace for backward), local response normalisation and batch normalisation,
// forward and backward, on oneDNN. All accept a blocked input layout and keep it.
#include <algorithm>
#include <limits>

#include "binding.h"
#include "execution.h"
#include "layout.h"
#include "recording.h"

namespace convnets {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using PoolForward = Compiled<dnnl::pooling_forward::primitive_desc, dnnl::pooling_forward>;
using PoolBackward = Compiled<dnnl::pooling_backward::primitive_desc, dnnl::pooling_backward>;

struct PoolGeometry {
  algorithm alg;
  Dims x, y, kernel, stride, padL, padR;
  Key key(const char* op) const {
    return std::move(Key(op).add(static_cast<int64_t>(alg)).add(x).add(y).add(kernel).add(stride).add(padL).add(padR));
  }
};

/** The `geometry` attributes {kind, x, y, kernel, stride, paddingBefore, paddingAfter, countIncludePad} of a pooling. */
PoolGeometry poolGeometry(const Napi::Value& value, const char* op) {
  const Attributes attrs(value, op);
  PoolGeometry g;
  const std::string kind = attrs.text("kind");
  if (kind != "max" && kind != "avg") {
    throw Napi::RangeError::New(value.Env(), std::string(op) + ": unknown pooling kind '" + kind + "'");
  }
  g.alg = kind == "max"                         ? algorithm::pooling_max
          : attrs.flag("countIncludePad") ? algorithm::pooling_avg_include_padding
                                                : algorithm::pooling_avg_exclude_padding;
  g.x = attrs.dims("x");
  g.y = attrs.dims("y");
  g.kernel = attrs.dims("kernel");
  g.stride = attrs.dims("stride");
  g.padL = attrs.dims("paddingBefore");
  g.padR = attrs.dims("paddingAfter");
  if (g.x.size() != 4 || g.y.size() != 4 || g.kernel.size() != 2 || g.stride.size() != 2 || g.padL.size() != 2 ||
      g.padR.size() != 2) {
    throw Napi::RangeError::New(value.Env(), std::string(op) + ": malformed shapes or attributes");
  }
  return g;
}

dnnl::pooling_forward::desc poolDesc(const PoolGeometry& g, const memory::desc& src, const memory::desc& dst,
                                     prop_kind prop = prop_kind::forward_training) {
  return {prop, g.alg, src, dst, g.stride, g.kernel, g.padL, g.padR};
}

/**
 * Whether any of `count` floats is NaN: a vectorised scan (one cloned per instruction set, chosen when the addon
 * loads) with no early exit, on every thread past kSerialBytes; it runs after every max pooling.
 */
__attribute__((target_clones("avx512f", "avx2", "default"))) bool anyNaN(const float* values, int64_t count) {
  const bool parallel = static_cast<size_t>(count) * sizeof(float) >= kSerialBytes;
  int found = 0;
#pragma omp parallel for simd schedule(static) reduction(| : found) if (parallel)
  for (int64_t i = 0; i < count; i++) found |= values[i] != values[i];
  return found != 0;
}

/**
 * A max pooling window holding a NaN pools to NaN, as in PyTorch; oneDNN's max skips NaNs. Run after each max
 * pooling on its arguments (an image's slices, when a replay splits the pooling): a scan of the input, usually finding
 * none, decides whether any window needs it. Shapes come from the arguments, the window from the geometry.
 */
AfterPrimitive propagateNaN(const PoolGeometry& g) {
  return [kernel = g.kernel, stride = g.stride, padL = g.padL](const Args& args) {
    const memory& x = args.at(DNNL_ARG_SRC);
    const float* xs = dataOf<float>(args, DNNL_ARG_SRC);
    if (!anyNaN(xs, static_cast<int64_t>(x.get_desc().get_size() / sizeof(float)))) return;
    const memory::desc xMd = x.get_desc(), yMd = args.at(DNNL_ARG_DST).get_desc();
    const Dims xDims = xMd.dims(), yDims = yMd.dims();
    float* ys = dataOf<float>(args, DNNL_ARG_DST);
    for (int64_t n = 0; n < yDims[0]; n++) {
      for (int64_t c = 0; c < yDims[1]; c++) {
        for (int64_t oh = 0; oh < yDims[2]; oh++) {
          for (int64_t ow = 0; ow < yDims[3]; ow++) {
            const int64_t top = oh * stride[0] - padL[0], left = ow * stride[1] - padL[1];
            bool nan = false;
            for (int64_t h = std::max<int64_t>(top, 0); h < std::min(top + kernel[0], xDims[2]) && !nan; h++) {
              for (int64_t w = std::max<int64_t>(left, 0); w < std::min(left + kernel[1], xDims[3]); w++) {
                const float v = xs[elementOffset(xMd, {n, c, h, w})];
                if (v != v) nan = true;
              }
            }
            if (nan) ys[elementOffset(yMd, {n, c, oh, ow})] = std::numeric_limits<float>::quiet_NaN();
          }
        }
      }
    }
  };
}

/**
 * pool2d(x, geometry, withWorkspace) → [y, workspace | null, its elements]. Without the workspace (no backward
 * will follow) max pooling runs as forward_inference, which writes no argmax.
 */
Napi::Value Pool2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PoolGeometry g = poolGeometry(info[1], "pool2d");
  Storage* x = unwrap(info[0], g.x, "pool2d");
  const bool withWorkspace = info[2].ToBoolean();
  const prop_kind prop = withWorkspace ? prop_kind::forward_training : prop_kind::forward_inference;
  const memory::desc src = layoutOf(x, g.x);
  auto p = cached<PoolForward>(g.key("pool").add(src).add(int64_t(withWorkspace)), [&] {
    return new PoolForward({poolDesc(g, src, sameLayout(src, g.y), prop), userScratchpad(), engine()});
  });
  Temps temps;
  Output out(env, p->pd.dst_desc(), g.y, temps);
  Args args{{DNNL_ARG_SRC, viewAs(x, src, temps)}, {DNNL_ARG_DST, out.mem()}};
  auto result = Napi::Array::New(env, 3);
  result.Set(1u, env.Null());
  result.Set(2u, Napi::Number::New(env, 0));
  if (g.alg == algorithm::pooling_max && withWorkspace) {
    const memory::desc wsMd = p->pd.workspace_desc();
    Storage* workspace = allocate(wsMd, product(wsMd.dims()));
    workspace->pool.reset(new Storage::PoolLayouts{src, p->pd.dst_desc()});
    args[DNNL_ARG_WORKSPACE] = memory(wsMd, engine(), workspace->data);
    result.Set(1u, wrap(env, workspace));
    result.Set(2u, Napi::Number::New(env, static_cast<double>(workspace->elements)));
  }
  execute(p->primitive, p->pd.scratchpad_desc(), args,
          g.alg == algorithm::pooling_max ? propagateNaN(g) : AfterPrimitive());
  result.Set(0u, out.finish());
  return result;
}

/** pool2dBackward(dy, geometry, workspace | null) → dx. */
Napi::Value Pool2dBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PoolGeometry g = poolGeometry(info[1], "pool2dBackward");
  Storage* dy = unwrap(info[0], g.y, "pool2dBackward");
  Storage* workspace = nullptr;
  memory::desc src, dst;
  if (g.alg == algorithm::pooling_max) {
    if (!given(info[2])) throw Napi::Error::New(env, "pool2dBackward: max pooling needs its workspace");
    workspace = unwrap(info[2]);
    if (!workspace->pool || workspace->pool->dst.dims() != g.y || workspace->pool->src.dims() != g.x) {
      throw Napi::Error::New(env, "pool2dBackward: the workspace comes from a pooling of other shapes");
    }
    src = workspace->pool->src;
    dst = workspace->pool->dst;
  } else {
    dst = layoutOf(dy, g.y);
    src = sameLayout(dst, g.x);
    if (isPlain(src)) dst = plainDesc(g.y);
  }
  auto p = cached<PoolBackward>(g.key("poolBackward").add(src).add(dst), [&] {
    dnnl::pooling_forward::primitive_desc hint(poolDesc(g, src, dst), engine());
    dnnl::pooling_backward::desc d(g.alg, src, dst, g.stride, g.kernel, g.padL, g.padR);
    return new PoolBackward({d, userScratchpad(), engine(), hint});
  });
  Temps temps;
  Output out(env, p->pd.diff_src_desc(), g.x, temps);
  Args args{{DNNL_ARG_DIFF_DST, viewAs(dy, p->pd.diff_dst_desc(), temps)}, {DNNL_ARG_DIFF_SRC, out.mem()}};
  if (workspace != nullptr) args[DNNL_ARG_WORKSPACE] = memory(workspace->md, engine(), workspace->data);
  execute(p->primitive, p->pd.scratchpad_desc(), args);
  return out.finish();
}

/**
 * The layout for a per-channel kernel (LRN, batch norm) on logical `dims`: the storage's own for 4-D input,
 * otherwise plain [N, C, inner, 1], which normalises over the same values as [N, C, ...].
 */
memory::desc channelLayout(Storage* s, const Dims& dims) {
  if (dims.size() == 4) return layoutOf(s, dims);
  if (dims.size() < 2) throw std::invalid_argument("input must be [N, C, ...]");
  int64_t inner = 1;
  for (size_t i = 2; i < dims.size(); i++) inner *= dims[i];
  return plainDesc({dims[0], dims[1], inner, 1});
}

using LrnForward = Compiled<dnnl::lrn_forward::primitive_desc, dnnl::lrn_forward>;
using LrnBackward = Compiled<dnnl::lrn_backward::primitive_desc, dnnl::lrn_backward>;

struct LrnAttrs {
  int64_t size;
  float alpha, beta, k;
};

/** The attributes {size, alpha, beta, k} of an LRN call. */
LrnAttrs lrnAttrs(const Napi::Value& value, const char* op) {
  const Attributes attrs(value, op);
  return {attrs.integer("size"), static_cast<float>(attrs.number("alpha")), static_cast<float>(attrs.number("beta")),
          static_cast<float>(attrs.number("k"))};
}

dnnl::lrn_forward::desc lrnDesc(prop_kind kind, const memory::desc& md, const LrnAttrs& a) {
  return {kind, algorithm::lrn_across_channels, md, a.size, a.alpha, a.beta, a.k};
}

Key lrnKey(const char* op, const memory::desc& md, const LrnAttrs& a) {
  return std::move(Key(op).add(md).add(a.size).add(double(a.alpha)).add(double(a.beta)).add(double(a.k)));
}

/** lrn(x, dims, {size, alpha, beta, k}) → y: oneDNN's across-channel LRN, which matches PyTorch for odd sizes. */
Napi::Value Lrn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[1]);
  Storage* x = unwrap(info[0], dims, "lrn");
  const LrnAttrs a = lrnAttrs(info[2], "lrn");
  const memory::desc md = channelLayout(x, dims);
  auto l = cached<LrnForward>(lrnKey("lrn", md, a), [&] {
    return new LrnForward({lrnDesc(prop_kind::forward_scoring, md, a), userScratchpad(), engine()});
  });
  Temps temps;
  Output out(env, l->pd.dst_desc(), dims, temps);
  execute(l->primitive, l->pd.scratchpad_desc(), {{DNNL_ARG_SRC, viewAs(x, md, temps)}, {DNNL_ARG_DST, out.mem()}});
  return out.finish();
}

/** lrnBackward(x, dy, dims, {size, alpha, beta, k}) → dx; reruns the forward when backward wants its workspace. */
Napi::Value LrnBackwardFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[2]);
  Storage* x = unwrap(info[0], dims, "lrnBackward");
  Storage* dy = unwrap(info[1], dims, "lrnBackward");
  const LrnAttrs a = lrnAttrs(info[3], "lrnBackward");
  const memory::desc md = channelLayout(x, dims);
  auto forward = cached<LrnForward>(lrnKey("lrnTraining", md, a), [&] {
    return new LrnForward({lrnDesc(prop_kind::forward_training, md, a), userScratchpad(), engine()});
  });
  auto backward = cached<LrnBackward>(lrnKey("lrnBackward", md, a), [&] {
    dnnl::lrn_backward::desc d(algorithm::lrn_across_channels, md, md, a.size, a.alpha, a.beta, a.k);
    return new LrnBackward({d, userScratchpad(), engine(), forward->pd});
  });
  Temps temps;
  memory src = viewAs(x, md, temps);
  Args args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, viewAs(dy, md, temps)}};
  const memory::desc wsMd = backward->pd.workspace_desc();
  if (wsMd.get_size() > 0) {
    memory workspace = temps.make(wsMd);
    execute(forward->primitive, forward->pd.scratchpad_desc(),
            {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, temps.make(forward->pd.dst_desc())}, {DNNL_ARG_WORKSPACE, workspace}});
    args[DNNL_ARG_WORKSPACE] = workspace;
  }
  Output out(env, backward->pd.diff_src_desc(), dims, temps);
  args[DNNL_ARG_DIFF_SRC] = out.mem();
  execute(backward->primitive, backward->pd.scratchpad_desc(), args);
  return out.finish();
}

using BnForward = Compiled<dnnl::batch_normalization_forward::primitive_desc, dnnl::batch_normalization_forward>;
using BnBackward = Compiled<dnnl::batch_normalization_backward::primitive_desc, dnnl::batch_normalization_backward>;
using Flags = dnnl::normalization_flags;

dnnl::batch_normalization_forward::desc bnDesc(prop_kind kind, const memory::desc& md, float eps, Flags flags) {
  return {kind, md, eps, flags};
}

/** Training's flags: scale and shift, and the ReLU fused after the normalisation where asked for. */
Flags trainingFlags(bool relu) {
  const Flags flags = Flags::use_scale | Flags::use_shift;
  return relu ? flags | Flags::fuse_norm_relu : flags;
}

/**
 * batchNormTraining(x, dims, gamma, beta, eps, relu) → [y, mean, biased variance, workspace | null, its elements].
 * With relu, y is the ReLU of the normalised values, and the workspace (the ReLU's mask) goes to the backward pass.
 */
Napi::Value BatchNormTraining(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[1]);
  Storage* x = unwrap(info[0], dims, "batchNormTraining");
  const Dims channels{dims.size() >= 2 ? dims[1] : 0};
  Storage* gamma = unwrap(info[2], channels, "batchNormTraining");
  Storage* beta = unwrap(info[3], channels, "batchNormTraining");
  const float eps = static_cast<float>(toDouble(info[4]));
  const bool relu = info[5].ToBoolean();
  const memory::desc md = channelLayout(x, dims);
  const Flags flags = trainingFlags(relu);
  auto b = cached<BnForward>(Key("bnTraining").add(md).add(double(eps)).add(int64_t(relu)), [&] {
    return new BnForward({bnDesc(prop_kind::forward_training, md, eps, flags), userScratchpad(), engine()});
  });
  Temps temps;
  Output out(env, b->pd.dst_desc(), dims, temps);
  Storage* mean = allocate(plainDesc(channels), channels[0]);
  Storage* variance = allocate(plainDesc(channels), channels[0]);
  auto result = Napi::Array::New(env, 5);
  // Wrapped at once so the finalizer frees them even if execution throws.
  result.Set(1u, wrap(env, mean));
  result.Set(2u, wrap(env, variance));
  result.Set(3u, env.Null());
  result.Set(4u, Napi::Number::New(env, 0));
  Args args{{DNNL_ARG_SRC, viewAs(x, md, temps)},
            {DNNL_ARG_SCALE, viewPlain(gamma, channels, temps)},
            {DNNL_ARG_SHIFT, viewPlain(beta, channels, temps)},
            {DNNL_ARG_MEAN, memory(plainDesc(channels), engine(), mean->data)},
            {DNNL_ARG_VARIANCE, memory(plainDesc(channels), engine(), variance->data)},
            {DNNL_ARG_DST, out.mem()}};
  if (relu) {
    const memory::desc wsMd = b->pd.workspace_desc();
    Storage* workspace = allocate(wsMd, product(wsMd.dims()));
    result.Set(3u, wrap(env, workspace));
    // Counted as 32-bit elements, as JavaScript counts a storage's bytes: the mask's bytes, rounded up.
    result.Set(4u, Napi::Number::New(env, static_cast<double>((wsMd.get_size() + 3) / 4)));
    args[DNNL_ARG_WORKSPACE] = memory(wsMd, engine(), workspace->data);
  }
  execute(b->primitive, b->pd.scratchpad_desc(), args);
  result.Set(0u, out.finish());
  return result;
}

/** batchNormInference(x, dims, gamma, beta, mean, variance, eps) → y. */
Napi::Value BatchNormInference(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[1]);
  Storage* x = unwrap(info[0], dims, "batchNormInference");
  const Dims channels{dims.size() >= 2 ? dims[1] : 0};
  Storage* gamma = unwrap(info[2], channels, "batchNormInference");
  Storage* beta = unwrap(info[3], channels, "batchNormInference");
  Storage* mean = unwrap(info[4], channels, "batchNormInference");
  Storage* variance = unwrap(info[5], channels, "batchNormInference");
  const float eps = static_cast<float>(toDouble(info[6]));
  const memory::desc md = channelLayout(x, dims);
  const Flags flags = Flags::use_global_stats | Flags::use_scale | Flags::use_shift;
  auto b = cached<BnForward>(Key("bnInference").add(md).add(double(eps)), [&] {
    return new BnForward({bnDesc(prop_kind::forward_inference, md, eps, flags), userScratchpad(), engine()});
  });
  Temps temps;
  Output out(env, b->pd.dst_desc(), dims, temps);
  execute(b->primitive, b->pd.scratchpad_desc(),
          {{DNNL_ARG_SRC, viewAs(x, md, temps)},
           {DNNL_ARG_SCALE, viewPlain(gamma, channels, temps)},
           {DNNL_ARG_SHIFT, viewPlain(beta, channels, temps)},
           {DNNL_ARG_MEAN, viewPlain(mean, channels, temps)},
           {DNNL_ARG_VARIANCE, viewPlain(variance, channels, temps)},
           {DNNL_ARG_DST, out.mem()}});
  return out.finish();
}

/**
 * batchNormBackward(x, dy, dims, gamma, mean, variance, eps, workspace | null) → [dx, dgamma, dbeta]. With the
 * workspace of a training call with relu, dy is the gradient of the ReLU's output, masked here by it.
 */
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[2]);
  Storage* x = unwrap(info[0], dims, "batchNormBackward");
  Storage* dy = unwrap(info[1], dims, "batchNormBackward");
  const Dims channels{dims.size() >= 2 ? dims[1] : 0};
  Storage* gamma = unwrap(info[3], channels, "batchNormBackward");
  Storage* mean = unwrap(info[4], channels, "batchNormBackward");
  Storage* variance = unwrap(info[5], channels, "batchNormBackward");
  const float eps = static_cast<float>(toDouble(info[6]));
  Storage* workspace = given(info[7]) ? unwrap(info[7]) : nullptr;
  const bool relu = workspace != nullptr;
  const memory::desc md = channelLayout(x, dims);
  const Flags flags = trainingFlags(relu);
  auto b = cached<BnBackward>(Key("bnBackward").add(md).add(double(eps)).add(int64_t(relu)), [&] {
    dnnl::batch_normalization_forward::primitive_desc hint(bnDesc(prop_kind::forward_training, md, eps, flags),
                                                           engine());
    return new BnBackward({{prop_kind::backward, md, md, eps, flags}, userScratchpad(), engine(), hint});
  });
  if (relu && workspace->md != b->pd.workspace_desc())
    throw Napi::Error::New(env, "batchNormBackward: the workspace comes from a batch norm of another shape or layout");
  Temps temps;
  Output out(env, b->pd.diff_src_desc(), dims, temps);
  Storage* dgamma = allocate(plainDesc(channels), channels[0]);
  Storage* dbeta = allocate(plainDesc(channels), channels[0]);
  auto result = Napi::Array::New(env, 3);
  result.Set(1u, wrap(env, dgamma));
  result.Set(2u, wrap(env, dbeta));
  Args args{{DNNL_ARG_SRC, viewAs(x, md, temps)},
            {DNNL_ARG_DIFF_DST, viewAs(dy, md, temps)},
            {DNNL_ARG_SCALE, viewPlain(gamma, channels, temps)},
            // oneDNN 2.6 counts the shift among backward's inputs though it never reads it.
            {DNNL_ARG_SHIFT, viewPlain(gamma, channels, temps)},
            {DNNL_ARG_MEAN, viewPlain(mean, channels, temps)},
            {DNNL_ARG_VARIANCE, viewPlain(variance, channels, temps)},
            {DNNL_ARG_DIFF_SRC, out.mem()},
            {DNNL_ARG_DIFF_SCALE, memory(plainDesc(channels), engine(), dgamma->data)},
            {DNNL_ARG_DIFF_SHIFT, memory(plainDesc(channels), engine(), dbeta->data)}};
  if (relu) args[DNNL_ARG_WORKSPACE] = memory(workspace->md, engine(), workspace->data);
  execute(b->primitive, b->pd.scratchpad_desc(), args);
  result.Set(0u, out.finish());
  return result;
}

}  // namespace

void registerPoolingAndNorm(Napi::Env env, Napi::Object exports) {
  CONVNETS_EXPORT(exports, "pool2d", Pool2d);
  CONVNETS_EXPORT(exports, "pool2dBackward", Pool2dBackward);
  CONVNETS_EXPORT(exports, "lrn", Lrn);
  CONVNETS_EXPORT(exports, "lrnBackward", LrnBackwardFn);
  CONVNETS_EXPORT(exports, "batchNormTraining", BatchNormTraining);
  CONVNETS_EXPORT(exports, "batchNormInference", BatchNormInference);
  CONVNETS_EXPORT(exports, "batchNormBackward", BatchNormBackward);
}

}  // namespace convnets
