// A recorded convolution and the pooling that reads its output, replayed image by image: each image's slice of
// the convolution's output is pooled while it is still in cache, where the whole batch's output is not (measured
// on GoogLeNet at batch 8: its two stride-2 poolings, after convolutions writing 26 MB and 19 MB, took 1.5 and
// 1.1 ms batched and 0.65 ms each image by image, the convolutions as long either way).
#include <algorithm>
#include <optional>

#include "execution.h"
#include "layout.h"
#include "recording.h"

namespace convnets {

namespace {

// Bytes of the convolution's batched output from which the pair runs image by image: below a few MB it stays in
// cache anyway, and each extra call costs its own overhead.
constexpr size_t kImageByImageFrom = size_t(8) << 20;

/** `md` for one image (batch 1, same layout), or a zero desc when the batch is not its outermost dimension. */
memory::desc oneImage(const memory::desc& md) {
  Dims dims = md.dims();
  if (dims.size() != 4 || sameLayout(md, dims) != md) return {};
  dims[0] = 1;
  return sameLayout(md, dims);
}

bool argsAre(const Args& args, std::initializer_list<int> kinds) {
  if (args.size() > kinds.size()) return false;
  for (const auto& entry : args) {
    if (std::find(kinds.begin(), kinds.end(), entry.first) == kinds.end()) return false;
  }
  return true;
}

/**
 * `call`'s operation on one image, with its attributes and every argument's layout: the op descriptor oneDNN
 * kept, with batch-1 source and destination. Empty when oneDNN has no kernel for it.
 */
std::optional<dnnl::primitive> forOneImage(const PrimitiveCall& call, const memory::desc& src,
                                           const memory::desc& dst) {
  const_dnnl_primitive_desc_t batched = call.primitive.get_primitive_desc();
  const_dnnl_primitive_attr_t attr = nullptr;
  dnnl::error::wrap_c_api(dnnl_primitive_desc_get_attr(batched, &attr), "could not query attributes");
  const bool conv = call.primitive.get_kind() == dnnl::primitive::kind::convolution;
  const void* op = nullptr;
  dnnl::error::wrap_c_api(
      dnnl_primitive_desc_query(batched, conv ? dnnl_query_convolution_d : dnnl_query_pooling_d, 0, &op),
      "could not query the operation");
  dnnl_primitive_desc_t single = nullptr;
  dnnl_status_t status;
  if (conv) {
    dnnl_convolution_desc_t d = *static_cast<const dnnl_convolution_desc_t*>(op);
    d.src_desc = src.data;
    d.dst_desc = dst.data;
    d.weights_desc = call.args.at(DNNL_ARG_WEIGHTS).get_desc().data;
    if (call.args.count(DNNL_ARG_BIAS) > 0) d.bias_desc = call.args.at(DNNL_ARG_BIAS).get_desc().data;
    status = dnnl_primitive_desc_create(&single, &d, attr, engine().get(), nullptr);
  } else {
    dnnl_pooling_desc_t d = *static_cast<const dnnl_pooling_desc_t*>(op);
    d.src_desc = src.data;
    d.dst_desc = dst.data;
    status = dnnl_primitive_desc_create(&single, &d, attr, engine().get(), nullptr);
  }
  if (status != dnnl_success) return std::nullopt;
  dnnl::primitive primitive(single);
  dnnl_primitive_desc_destroy(single);
  return primitive;
}

/** `call` as one call per image on its slices of source and destination; empty when it cannot be split. */
std::vector<PrimitiveCall> perImage(const PrimitiveCall& call) {
  const memory& x = call.args.at(DNNL_ARG_SRC);
  const memory& y = call.args.at(DNNL_ARG_DST);
  const memory::desc src = oneImage(x.get_desc()), dst = oneImage(y.get_desc());
  if (src.is_zero() || dst.is_zero()) return {};
  const std::optional<dnnl::primitive> primitive = forOneImage(call, src, dst);
  if (!primitive) return {};
  const memory::desc scratchpad(*dnnl_primitive_desc_query_md(primitive->get_primitive_desc(),
                                                              dnnl_query_scratchpad_md, 0));
  std::vector<PrimitiveCall> images;
  const int64_t batch = x.get_desc().dims()[0];
  for (int64_t n = 0; n < batch; n++) {
    Args args = call.args;
    args[DNNL_ARG_SRC] = memory(src, engine(), static_cast<char*>(x.get_data_handle()) + n * src.get_size());
    args[DNNL_ARG_DST] = memory(dst, engine(), static_cast<char*>(y.get_data_handle()) + n * dst.get_size());
    const bool serial = runsSerially(args);
    images.push_back({*primitive, scratchpad, std::move(args), serial, call.after});
  }
  return images;
}

}  // namespace

std::vector<PrimitiveCall> imageByImage(const PrimitiveCall& conv, const PrimitiveCall& pool) {
  if (conv.primitive.get_kind() != dnnl::primitive::kind::convolution ||
      pool.primitive.get_kind() != dnnl::primitive::kind::pooling ||
      !argsAre(conv.args, {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST}) ||
      !argsAre(pool.args, {DNNL_ARG_SRC, DNNL_ARG_DST})) {
    return {};
  }
  const memory &convIn = conv.args.at(DNNL_ARG_SRC), &convOut = conv.args.at(DNNL_ARG_DST);
  const memory &poolIn = pool.args.at(DNNL_ARG_SRC), &poolOut = pool.args.at(DNNL_ARG_DST);
  const memory::desc out = convOut.get_desc();
  if (poolIn.get_data_handle() != convOut.get_data_handle() || poolIn.get_desc() != out ||
      out.dims()[0] < 2 || out.get_size() < kImageByImageFrom) {
    return {};
  }
  // The pooling may write where the convolution read (a block freed and reused within the recording): image n's
  // pooling must then overwrite exactly image n's input, which the convolution has read already.
  if (poolOut.get_data_handle() == convIn.get_data_handle() &&
      poolOut.get_desc().get_size() != convIn.get_desc().get_size()) {
    return {};
  }
  std::vector<PrimitiveCall> convs = perImage(conv), pools = perImage(pool);
  if (convs.empty() || pools.empty()) return {};
  std::vector<PrimitiveCall> interleaved;
  for (size_t n = 0; n < convs.size(); n++) {
    interleaved.push_back(std::move(convs[n]));
    interleaved.push_back(std::move(pools[n]));
  }
  return interleaved;
}

}  // namespace convnets
