// 2-D convolution on oneDNN: forward with bias, backward-data and backward-weights, each by Winograd's algorithm
// where that runs faster and directly otherwise (Geometry::winogradPays). Every primitive picks its own layouts
// (format_tag::any) but for 16 channels in and out, channels-last where that runs faster (Geometry); inputs are
// reordered into them when they differ (oneDNN 2.x does not check).
#include <stdexcept>
#include <string>

#include "binding.h"
#include "execution.h"
#include "layout.h"
#include "recording.h"

namespace convnets {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using ConvForward = Compiled<dnnl::convolution_forward::primitive_desc, dnnl::convolution_forward>;
using ConvBackwardData = Compiled<dnnl::convolution_backward_data::primitive_desc, dnnl::convolution_backward_data>;
using ConvBackwardWeights =
    Compiled<dnnl::convolution_backward_weights::primitive_desc, dnnl::convolution_backward_weights>;

// Whether conv2dBackwardFilter sums a batch's weight gradient image by image in float64
// (backwardWeightsImageByImage); off by default, since it runs oneDNN once per image on one thread.
bool batchInvariantGradients = false;

// Whether 3×3 convolutions may run by Winograd's algorithm where it pays (setWinograd); on by default.
bool winogradAllowed = true;

memory::desc anyLayout(const Dims& dims) { return memory::desc(dims, DataType::f32, memory::format_tag::any); }

/** `dims` channels-last, or in the layout the primitive picks. */
memory::desc activationLayout(const Dims& dims, bool channelsLast) {
  return channelsLast ? memory::desc(dims, DataType::f32, memory::format_tag::nhwc) : anyLayout(dims);
}

std::string text(const Dims& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); i++) out += (i > 0 ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

/** Shapes and attributes of one convolution, in oneDNN's terms. */
struct Geometry {
  const char* op;
  Dims x, w, y;  // w is [G, O/G, I/G, kh, kw] when grouped
  Dims wLogical;
  Dims stride, padding, dilation;  // as given: padding [top, bottom, left, right], dilation PyTorch's
  int64_t groups;
  Dims dilationGaps, padL, padR;  // oneDNN's: dilation counts the gaps (PyTorch's d − 1)
  /**
   * With 16 channels in and out, oneDNN's channel-blocked layout and channels-last are the same bytes (layout.h,
   * storedAs), so a convolution may read and write either at no cost. oneDNN 2.6 runs other kernels for each: on
   * AVX-512 (an AMD EPYC, 2 threads, batch 8 to 128) channels-last was 1.1-1.3x faster forward from 32x32 images up
   * and slower below, and 1.04-1.18x faster for the weight gradient from batch 8 up (0.6-0.8x for single images);
   * backward-data ran level. CIFAR ResNets' first stage is such a convolution.
   */
  bool oneChannelBlock() const { return groups == 1 && x[1] == 16 && y[1] == 16; }
  bool channelsLastForward() const { return oneChannelBlock() && x[0] >= 8 && y[2] * y[3] >= 32 * 32; }
  bool channelsLastWeightGradient() const { return oneChannelBlock() && x[0] >= 8; }
  /**
   * Whether oneDNN's Winograd F(4×4, 3×3) kernel (3×3, stride 1, no dilation, channels in multiples of 16) runs
   * faster than the direct one. It multiplies 2.25 times less, but spends memory traffic transforming each 6×6
   * input tile and 4×4 output tile; on AVX-512 (an AMD EPYC, 2 threads) all three passes ran 1.6-2.9x faster from
   * 32 channels in and out and 32 output tiles up (CIFAR ResNet-20's second and third stages at batch 128, every
   * ResNet and VGG 3×3 convolution at 224 from batch 1), and slower for 16 channels (0.7x) or fewer tiles (a
   * [1, 512, 7, 7] image, 0.3x; [1, 256, 14, 14], 0.75x). Its float32 results differ from the direct kernel's by
   * about 2e-6 of the largest output.
   */
  bool winogradPays() const {
    const int64_t tiles = x[0] * ((y[2] + 3) / 4) * ((y[3] + 3) / 4);
    return winogradAllowed && groups == 1 && wLogical[2] == 3 && wLogical[3] == 3 && stride == Dims{1, 1} &&
           dilation == Dims{1, 1} && x[1] >= 32 && y[1] >= 32 && x[1] % 16 == 0 && y[1] % 16 == 0 && tiles >= 32;
  }
  Key key(const char* kind) const {
    return std::move(
        Key(kind).add(x).add(w).add(y).add(stride).add(dilationGaps).add(padL).add(padR).add(int64_t(winogradPays())));
  }
  /** The shapes and attributes, for a message: what a user passed, in PyTorch's terms. */
  std::string describe() const {
    return "input " + text(x) + ", weight " + text(wLogical) + ", output " + text(y) + ", stride " + text(stride) +
           ", padding " + text(padding) + ", dilation " + text(dilation) + ", groups " + std::to_string(groups);
  }
  /**
   * A compiled primitive from make(algorithm): Winograd's where it pays and oneDNN has it for these attributes,
   * else the direct one, with oneDNN's refusal of that turned into an error naming the attributes.
   */
  template <class T>
  std::shared_ptr<T> compile(const Key& key, const std::function<T*(algorithm)>& make) const {
    return cached<T>(key, [&]() -> T* {
      if (winogradPays()) {
        try {
          return make(algorithm::convolution_winograd);
        } catch (const dnnl::error&) {
          // No Winograd kernel for these attributes (a padding over 1, say): run directly.
        }
      }
      try {
        return make(algorithm::convolution_direct);
      } catch (const dnnl::error& e) {
        throw std::invalid_argument("oneDNN has no convolution for " + describe() + " (" + e.what() + ")");
      }
    });
  }
};

/** The `geometry` attributes {x, w, y, stride, padding, dilation, groups} of a convolution call. */
Geometry geometry(const Napi::Value& value, const char* op) {
  const Attributes attrs(value, op);
  Geometry g;
  g.op = op;
  g.x = attrs.dims("x");
  g.wLogical = attrs.dims("w");
  g.y = attrs.dims("y");
  g.stride = attrs.dims("stride");
  g.padding = attrs.dims("padding");
  g.dilation = attrs.dims("dilation");
  g.groups = attrs.integer("groups");
  if (g.x.size() != 4 || g.wLogical.size() != 4 || g.y.size() != 4 || g.stride.size() != 2 ||
      g.padding.size() != 4 || g.dilation.size() != 2 || g.groups < 1 || g.wLogical[0] % g.groups != 0) {
    throw Napi::RangeError::New(value.Env(), std::string(op) + ": malformed shapes or attributes: " + g.describe());
  }
  g.w = g.groups == 1 ? g.wLogical
                      : Dims{g.groups, g.wLogical[0] / g.groups, g.wLogical[1], g.wLogical[2], g.wLogical[3]};
  g.dilationGaps = {g.dilation[0] - 1, g.dilation[1] - 1};
  g.padL = {g.padding[0], g.padding[2]};
  g.padR = {g.padding[1], g.padding[3]};
  return g;
}

dnnl::convolution_forward::desc forwardDesc(const Geometry& g, algorithm alg, bool bias, bool channelsLast) {
  const memory::desc x = activationLayout(g.x, channelsLast), y = activationLayout(g.y, channelsLast);
  if (bias) {
    return {prop_kind::forward_training, alg, x, anyLayout(g.w), anyLayout({g.y[1]}), y,
            g.stride, g.dilationGaps, g.padL, g.padR};
  }
  return {prop_kind::forward_training, alg, x, anyLayout(g.w), y, g.stride, g.dilationGaps, g.padL, g.padR};
}

/**
 * Weights `w` in the layout `md`. Weights that stay the same (inference, frozen layers) keep the reordered copy
 * with their buffer for the next call (viewKept). Trained weights are replaced by the optimizer before the next step
 * reads them, so theirs is a temporary: kept, the copies of every layer's weights were alive together at the peak
 * of a training step, 118 MiB of a ResNet-50's at batch 32, and reusing the forward's copy in backward-data saved no
 * measurable time.
 */
memory weightsAs(Storage* w, const memory::desc& md, bool trained, Temps& temps) {
  return trained ? viewAs(w, md, temps) : viewKept(w, md, temps);
}

dnnl::primitive_attr withPostOps(bool sum, bool relu) {
  dnnl::post_ops ops;
  if (sum) ops.append_sum(1.0f);
  if (relu) ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr = userScratchpad();
  attr.set_post_ops(ops);
  return attr;
}

/**
 * conv2d(x, w, bias | null, geometry, {add, relu, addInPlace, trainedWeights}) → y.
 * `add` and `relu` are post-ops: oneDNN's sum (the output starts as a copy of `add`) and eltwise ReLU. They use
 * the training kernels too: oneDNN 2.6's forward_inference picks brgconv for some small odd shapes, which crashed
 * with sum and ReLU together (a [3,1,8,9] input, [2,1,2,3] kernel, stride [1,3], padding [1,2,2,0]).
 */
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometry(info[3], "conv2d");
  const Attributes post(info[4], "conv2d");
  Storage* x = unwrap(info[0], g.x, "conv2d");
  Storage* w = unwrap(info[1], g.wLogical, "conv2d");
  const bool hasBias = given(info[2]);
  Storage* bias = hasBias ? unwrap(info[2], {g.y[1]}, "conv2d") : nullptr;
  Storage* add = given(post.value("add")) ? unwrap(post.value("add"), g.y, "conv2d's fused sum") : nullptr;
  const bool relu = post.flag("relu");
  const bool addInPlace = post.flag("addInPlace");
  const bool trainedWeights = post.flag("trainedWeights");
  const Key key = g.key("conv").add(int64_t(hasBias)).add(int64_t(add != nullptr)).add(int64_t(relu));
  auto c = g.compile<ConvForward>(key, [&](algorithm alg) {
    return new ConvForward(
        {forwardDesc(g, alg, hasBias, g.channelsLastForward()), withPostOps(add != nullptr, relu), engine()});
  });
  Temps temps;
  Args args{{DNNL_ARG_SRC, viewAs(x, c->pd.src_desc(), temps)},
            {DNNL_ARG_WEIGHTS, weightsAs(w, c->pd.weights_desc(), trainedWeights, temps)}};
  if (hasBias) args[DNNL_ARG_BIAS] = viewAs(bias, c->pd.bias_desc(), temps);
  // The caller gives `add` up and nothing else views its buffer: the sum accumulates in it, with no copy.
  const bool inPlace = add != nullptr && addInPlace && sameBytes(add->md, c->pd.dst_desc()) &&
                       add->buffer.use_count() == 1 && add->buffer->kept.empty();
  if (inPlace) {
    Storage* y = alias(add, add->md);
    Napi::Value handle = wrap(env, y);
    args[DNNL_ARG_DST] = memory(c->pd.dst_desc(), engine(), y->data);
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

/** conv2dBackwardData(dy, w, geometry, trainedWeights) → dx. */
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometry(info[2], "conv2dBackwardData");
  Storage* dy = unwrap(info[0], g.y, "conv2dBackwardData");
  Storage* w = unwrap(info[1], g.wLogical, "conv2dBackwardData");
  const bool trainedWeights = info[3].ToBoolean();
  auto c = g.compile<ConvBackwardData>(g.key("convBackwardData"), [&](algorithm alg) {
    dnnl::convolution_forward::primitive_desc hint(forwardDesc(g, alg, false, false), engine());
    dnnl::convolution_backward_data::desc d(alg, anyLayout(g.x), anyLayout(g.w), anyLayout(g.y), g.stride,
                                            g.dilationGaps, g.padL, g.padR);
    return new ConvBackwardData({d, userScratchpad(), engine(), hint});
  });
  Temps temps;
  Output out(env, c->pd.diff_src_desc(), g.x, temps);
  execute(c->primitive, c->pd.scratchpad_desc(),
          {{DNNL_ARG_DIFF_DST, viewAs(dy, c->pd.diff_dst_desc(), temps)},
           {DNNL_ARG_WEIGHTS, weightsAs(w, c->pd.weights_desc(), trainedWeights, temps)},
           {DNNL_ARG_DIFF_SRC, out.mem()}});
  return out.finish();
}

std::shared_ptr<ConvBackwardWeights> compileBackwardWeights(const Geometry& g) {
  return g.compile<ConvBackwardWeights>(g.key("convBackwardWeights"), [&](algorithm alg) {
    const bool channelsLast = g.channelsLastWeightGradient();
    dnnl::convolution_forward::primitive_desc hint(forwardDesc(g, alg, false, channelsLast), engine());
    dnnl::convolution_backward_weights::desc d(
        alg, activationLayout(g.x, channelsLast), anyLayout(g.w),
        activationLayout(g.y, channelsLast), g.stride, g.dilationGaps, g.padL, g.padR);
    return new ConvBackwardWeights({d, userScratchpad(), engine(), hint});
  });
}

/** `oneImage` in the layout of a batch of `batch` images, or a zero desc when the batch is not outermost. */
memory::desc batchOf(const memory::desc& oneImage, int64_t batch) {
  Dims dims = oneImage.dims();
  dims[0] = batch;
  const memory::desc batched = sameLayout(oneImage, dims);
  if (sameLayout(batched, oneImage.dims()) != oneImage ||
      batched.get_size() != static_cast<size_t>(batch) * oneImage.get_size()) {
    return {};
  }
  return batched;
}

/**
 * The weight gradient as the sum over the batch of each image's own, computed by oneDNN image by image and added
 * in float64 in the batch's order, rounded to float32 once. oneDNN's batched kernel sums every image and position
 * in one float32 running sum, whose rounding (about 1e-5 of the gradient's largest value for a CIFAR ResNet-20
 * layer at batch 128) depends on which images share the batch: one process at batch 2B and two at B then drift
 * apart by 2.4e-4 in 50 SGD steps, as much as one process does with its batch merely reordered. Summed this way,
 * batch 2B and the average of two batches of B differ by about one float32 rounding. False when the layouts do not
 * split by image.
 */
bool backwardWeightsImageByImage(const Geometry& g, Storage* x, Storage* dy, const memory& out, Temps& temps) {
  Geometry single = g;
  single.x[0] = 1;
  single.y[0] = 1;
  std::shared_ptr<ConvBackwardWeights> c = compileBackwardWeights(single);
  const int64_t batch = g.x[0];
  const memory::desc srcImage = c->pd.src_desc(), dyImage = c->pd.diff_dst_desc();
  const memory::desc srcBatch = batchOf(srcImage, batch), dyBatch = batchOf(dyImage, batch);
  if (srcBatch.is_zero() || dyBatch.is_zero() || c->pd.diff_weights_desc() != out.get_desc()) return false;
  const memory xs = viewAs(x, srcBatch, temps), dys = viewAs(dy, dyBatch, temps);
  const memory imageGradient = temps.make(out.get_desc());
  const size_t values = out.get_desc().get_size() / sizeof(float);
  // float64 accumulators, as a memory of twice as many float32 so that a recording keeps them.
  const memory sum = temps.make(plainDesc({static_cast<int64_t>(2 * values)}));
  for (int64_t n = 0; n < batch; n++) {
    execute(c->primitive, c->pd.scratchpad_desc(),
            {{DNNL_ARG_SRC, memory(srcImage, engine(), static_cast<char*>(xs.get_data_handle()) + n * srcImage.get_size())},
             {DNNL_ARG_DIFF_DST,
              memory(dyImage, engine(), static_cast<char*>(dys.get_data_handle()) + n * dyImage.get_size())},
             {DNNL_ARG_DIFF_WEIGHTS, imageGradient}});
    const bool first = n == 0;
    runHandWritten(
        [values, first](const Args& args) {
          const float* image = dataOf<float>(args, DNNL_ARG_SRC);
          double* total = dataOf<double>(args, DNNL_ARG_DST);
          if (first) {
            for (size_t i = 0; i < values; i++) total[i] = image[i];
          } else {
            for (size_t i = 0; i < values; i++) total[i] += image[i];
          }
        },
        {{DNNL_ARG_SRC, imageGradient}, {DNNL_ARG_DST, sum}});
  }
  runHandWritten(
      [values](const Args& args) {
        const double* total = dataOf<double>(args, DNNL_ARG_SRC);
        float* rounded = dataOf<float>(args, DNNL_ARG_DST);
        for (size_t i = 0; i < values; i++) rounded[i] = static_cast<float>(total[i]);
      },
      {{DNNL_ARG_SRC, sum}, {DNNL_ARG_DST, out}});
  return true;
}

/** conv2dBackwardFilter(x, dy, geometry) → dw, always plain. */
Napi::Value Conv2dBackwardFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometry(info[2], "conv2dBackwardFilter");
  Storage* x = unwrap(info[0], g.x, "conv2dBackwardFilter");
  Storage* dy = unwrap(info[1], g.y, "conv2dBackwardFilter");
  std::shared_ptr<ConvBackwardWeights> c = compileBackwardWeights(g);
  Temps temps;
  // Weight gradients feed optimizers, which work on plain values.
  Output out(env, c->pd.diff_weights_desc(), g.wLogical, temps, true);
  if (batchInvariantGradients && g.x[0] > 1 && backwardWeightsImageByImage(g, x, dy, out.mem(), temps)) {
    return out.finish();
  }
  execute(c->primitive, c->pd.scratchpad_desc(),
          {{DNNL_ARG_SRC, viewAs(x, c->pd.src_desc(), temps)},
           {DNNL_ARG_DIFF_DST, viewAs(dy, c->pd.diff_dst_desc(), temps)},
           {DNNL_ARG_DIFF_WEIGHTS, out.mem()}});
  return out.finish();
}

/** setBatchInvariantGradients(on): whether weight gradients are summed image by image in float64. */
Napi::Value SetBatchInvariantGradients(const Napi::CallbackInfo& info) {
  batchInvariantGradients = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

/** setWinograd(on): whether convolutions compiled from now on may run by Winograd's algorithm where it pays. */
Napi::Value SetWinograd(const Napi::CallbackInfo& info) {
  winogradAllowed = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

}  // namespace

void registerConvolution(Napi::Env env, Napi::Object exports) {
  CONVNETS_EXPORT(exports, "setBatchInvariantGradients", SetBatchInvariantGradients);
  CONVNETS_EXPORT(exports, "setWinograd", SetWinograd);
  CONVNETS_EXPORT(exports, "conv2d", Conv2d);
  CONVNETS_EXPORT(exports, "conv2dBackwardData", Conv2dBackwardData);
  CONVNETS_EXPORT(exports, "conv2dBackwardFilter", Conv2dBackwardFilter);
}

}  // namespace convnets
