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

bool given(const Napi::Value& value) { return !value.IsNull() && !value.IsUndefined(); }

dnnl::primitive_attr withPostOps(bool sum, bool relu) {
  dnnl::post_ops ops;
  if (sum) ops.append_sum(1.0f);
  if (relu) ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr = userScratchpad();
  attr.set_post_ops(ops);
  return attr;
}

/**
 * conv2d(x, w, bias | null, xDims, wDims, yDims, stride, padding, dilation, groups, add | null, relu, addInPlace)
 * → y.
 * `add` and `relu` are post-ops: oneDNN's sum (the output starts as a copy of `add`) and eltwise ReLU. They use
 * the training kernels too: oneDNN 2.6's forward_inference picks brgconv for some small odd shapes, which crashed
 * with sum and ReLU together (a [3,1,8,9] input, [2,1,2,3] kernel, stride [1,3], padding [1,2,2,0]).
 */
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometry(info, 3);
  Storage* x = unwrap(info[0], g.x, "conv2d");
  Storage* w = unwrap(info[1], g.wLogical, "conv2d");
  const bool hasBias = given(info[2]);
  Storage* bias = hasBias ? unwrap(info[2], {g.y[1]}, "conv2d") : nullptr;
  Storage* add = given(info[10]) ? unwrap(info[10], g.y, "conv2d's fused sum") : nullptr;
  const bool relu = info[11].ToBoolean();
  const bool addInPlace = info[12].ToBoolean();
  const Key key = g.key("conv").add(int64_t(hasBias)).add(int64_t(add != nullptr)).add(int64_t(relu));
  auto c = cached<ConvForward>(key, [&] {
    return new ConvForward({forwardDesc(g, hasBias), withPostOps(add != nullptr, relu), engine()});
  });
  Temps temps;
  Args args{{DNNL_ARG_SRC, viewAs(x, c->pd.src_desc(), temps)},
            {DNNL_ARG_WEIGHTS, viewKept(w, c->pd.weights_desc(), temps)}};
  if (hasBias) args[DNNL_ARG_BIAS] = viewAs(bias, c->pd.bias_desc(), temps);
  // The caller gives `add` up and nothing else views its buffer: the sum accumulates in it, with no copy.
  const bool inPlace = add != nullptr && addInPlace && add->md == c->pd.dst_desc() && add->buffer.use_count() == 1 &&
                       add->buffer->kept.empty();
  if (inPlace) {
    Storage* y = alias(add, add->md);
    Napi::Value handle = wrap(env, y);
    args[DNNL_ARG_DST] = memory(y->md, engine(), y->data);
    execute(c->primitive, c->pd.scratchpad_desc(), args);
    return handle;
  }
  Output out(env, c->pd.dst_desc(), g.y, temps);
  args[DNNL_ARG_DST] = out.mem();
  if (add != nullptr) {
    // The sum post-op accumulates into the destination: start it as the values to add.
    const memory from = add->md.dims() == g.y ? memory(add->md, engine(), add->data) : viewPlain(add, g.y, temps);
    reorder(from, out.mem());
  }
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
           {DNNL_ARG_WEIGHTS, viewKept(w, c->pd.weights_desc(), temps)},
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
