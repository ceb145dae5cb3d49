// 2-D convolution on oneDNN: forward with bias, backward-data and backward-weights. Every primitive picks its
// own layouts (format_tag::any); inputs are reordered into them when they differ (oneDNN 2.x does not check).
#include "common.h"

namespace convnets {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using ConvForward = Compiled<dnnl::convolution_forward::primitive_desc, dnnl::convolution_forward>;
using ConvBackwardData = Compiled<dnnl::convolution_backward_data::primitive_desc, dnnl::convolution_backward_data>;
using ConvBackwardWeights =
    Compiled<dnnl::convolution_backward_weights::primitive_desc, dnnl::convolution_backward_weights>;

memory::desc anyLayout(const Dims& dims) { return memory::desc(dims, DataType::f32, memory::format_tag::any); }

/** Shapes and attributes of one convolution, in oneDNN's terms. */
struct Geometry {
  Dims x, w, y;  // w is [G, O/G, I/G, kh, kw] when grouped
  Dims wLogical;
  Dims stride, dilation, padL, padR;  // dilation counts the gaps (PyTorch's d − 1)
  Key key(const char* op) const {
    return std::move(Key(op).add(x).add(w).add(y).add(stride).add(dilation).add(padL).add(padR));
  }
};

/** Reads x dims, w dims, y dims, stride, padding [top, bottom, left, right], dilation and groups from `at` on. */
Geometry geometry(const Napi::CallbackInfo& info, size_t at) {
  Geometry g;
  g.x = toDims(info[at]);
  g.wLogical = toDims(info[at + 1]);
  g.y = toDims(info[at + 2]);
  const Dims stride = toDims(info[at + 3]), padding = toDims(info[at + 4]), dilation = toDims(info[at + 5]);
  const int64_t groups = toInt(info[at + 6]);
  if (g.x.size() != 4 || g.wLogical.size() != 4 || g.y.size() != 4 || stride.size() != 2 || padding.size() != 4 ||
      dilation.size() != 2 || groups < 1 || g.wLogical[0] % groups != 0) {
    throw Napi::RangeError::New(info.Env(), "conv2d: malformed shapes or attributes");
  }
  g.w = groups == 1 ? g.wLogical
                    : Dims{groups, g.wLogical[0] / groups, g.wLogical[1], g.wLogical[2], g.wLogical[3]};
  g.stride = stride;
  g.dilation = {dilation[0] - 1, dilation[1] - 1};
  g.padL = {padding[0], padding[2]};
  g.padR = {padding[1], padding[3]};
  return g;
}

dnnl::convolution_forward::desc forwardDesc(const Geometry& g, bool bias) {
  if (bias) {
    return {prop_kind::forward_training, algorithm::convolution_direct, anyLayout(g.x), anyLayout(g.w),
            anyLayout({g.y[1]}), anyLayout(g.y), g.stride, g.dilation, g.padL, g.padR};
  }
  return {prop_kind::forward_training, algorithm::convolution_direct, anyLayout(g.x), anyLayout(g.w),
          anyLayout(g.y), g.stride, g.dilation, g.padL, g.padR};
}

/** conv2d(x, w, bias | null, xDims, wDims, yDims, stride, padding, dilation, groups) → y. */
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometry(info, 3);
  Storage* x = unwrap(info[0], g.x, "conv2d");
  Storage* w = unwrap(info[1], g.wLogical, "conv2d");
  const bool hasBias = !info[2].IsNull() && !info[2].IsUndefined();
  Storage* bias = hasBias ? unwrap(info[2], {g.y[1]}, "conv2d") : nullptr;
  auto c = cached<ConvForward>(g.key("conv").add(int64_t(hasBias)), [&] {
    return new ConvForward({forwardDesc(g, hasBias), userScratchpad(), engine()});
  });
  Temps temps;
  Args args{{DNNL_ARG_SRC, viewAs(x, c->pd.src_desc(), temps)},
            {DNNL_ARG_WEIGHTS, viewAs(w, c->pd.weights_desc(), temps)}};
  if (hasBias) args[DNNL_ARG_BIAS] = viewAs(bias, c->pd.bias_desc(), temps);
  Output out(env, c->pd.dst_desc(), g.y, temps);
  args[DNNL_ARG_DST] = out.mem();
  execute(c->primitive, c->pd.scratchpad_desc(), args);
  return out.finish();
}

/** conv2dBackwardData(dy, w, xDims, wDims, yDims, stride, padding, dilation, groups) → dx. */
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometry(info, 2);
  Storage* dy = unwrap(info[0], g.y, "conv2dBackwardData");
  Storage* w = unwrap(info[1], g.wLogical, "conv2dBackwardData");
  auto c = cached<ConvBackwardData>(g.key("convBackwardData"), [&] {
    dnnl::convolution_forward::primitive_desc hint(forwardDesc(g, false), engine());
    dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, anyLayout(g.x), anyLayout(g.w),
                                            anyLayout(g.y), g.stride, g.dilation, g.padL, g.padR);
    return new ConvBackwardData({d, userScratchpad(), engine(), hint});
  });
  Temps temps;
  Output out(env, c->pd.diff_src_desc(), g.x, temps);
  execute(c->primitive, c->pd.scratchpad_desc(),
          {{DNNL_ARG_DIFF_DST, viewAs(dy, c->pd.diff_dst_desc(), temps)},
           {DNNL_ARG_WEIGHTS, viewAs(w, c->pd.weights_desc(), temps)},
           {DNNL_ARG_DIFF_SRC, out.mem()}});
  return out.finish();
}

/** conv2dBackwardFilter(x, dy, xDims, wDims, yDims, stride, padding, dilation, groups) → dw, always plain. */
Napi::Value Conv2dBackwardFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometry(info, 2);
  Storage* x = unwrap(info[0], g.x, "conv2dBackwardFilter");
  Storage* dy = unwrap(info[1], g.y, "conv2dBackwardFilter");
  auto c = cached<ConvBackwardWeights>(g.key("convBackwardWeights"), [&] {
    dnnl::convolution_forward::primitive_desc hint(forwardDesc(g, false), engine());
    dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, anyLayout(g.x), anyLayout(g.w),
                                               anyLayout(g.y), g.stride, g.dilation, g.padL, g.padR);
    return new ConvBackwardWeights({d, userScratchpad(), engine(), hint});
  });
  Temps temps;
  // Weight gradients feed optimizers, which work on plain values.
  Output out(env, c->pd.diff_weights_desc(), g.wLogical, temps, true);
  execute(c->primitive, c->pd.scratchpad_desc(),
          {{DNNL_ARG_SRC, viewAs(x, c->pd.src_desc(), temps)},
           {DNNL_ARG_DIFF_DST, viewAs(dy, c->pd.diff_dst_desc(), temps)},
           {DNNL_ARG_DIFF_WEIGHTS, out.mem()}});
  return out.finish();
}

}  // namespace

void registerConvolution(Napi::Env env, Napi::Object exports) {
  CONVNETS_EXPORT(exports, "conv2d", Conv2d);
  CONVNETS_EXPORT(exports, "conv2dBackwardData", Conv2dBackwardData);
  CONVNETS_EXPORT(exports, "conv2dBackwardFilter", Conv2dBackwardFilter);
}

}  // namespace convnets
