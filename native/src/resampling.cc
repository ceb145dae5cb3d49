// Resampling (PyTorch's F.interpolate) on oneDNN, forward and backward: bilinear with half-pixel centres, which is
// PyTorch's align_corners false, and nearest. Any input layout; the output keeps its family (sameLayout).
#include <string>

#include "binding.h"
#include "execution.h"
#include "layout.h"

namespace convnets {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using ResampleForward = Compiled<dnnl::resampling_forward::primitive_desc, dnnl::resampling_forward>;
using ResampleBackward = Compiled<dnnl::resampling_backward::primitive_desc, dnnl::resampling_backward>;

/** The `geometry` attributes {x, y, mode} of a resampling. */
struct ResizeGeometry {
  Dims x, y;
  algorithm alg;
  Key key(const char* kind) const { return std::move(Key(kind).add(static_cast<int64_t>(alg)).add(x).add(y)); }
};

ResizeGeometry resizeGeometry(const Napi::Value& value, const char* op) {
  const Attributes attrs(value, op);
  const std::string mode = attrs.text("mode");
  if (mode != "nearest" && mode != "bilinear") {
    throw Napi::RangeError::New(value.Env(), std::string(op) + ": unknown mode '" + mode + "'");
  }
  ResizeGeometry g{attrs.dims("x"), attrs.dims("y"),
                   mode == "nearest" ? algorithm::resampling_nearest : algorithm::resampling_linear};
  if (g.x.size() != 4 || g.y.size() != 4 || g.x[0] != g.y[0] || g.x[1] != g.y[1]) {
    throw Napi::RangeError::New(value.Env(), std::string(op) + ": malformed shapes");
  }
  return g;
}

/** resize2d(x, {x, y, mode}) → y. */
Napi::Value Resize2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ResizeGeometry g = resizeGeometry(info[1], "resize2d");
  Storage* x = unwrap(info[0], g.x, "resize2d");
  const memory::desc src = layoutOf(x, g.x);
  auto r = cached<ResampleForward>(g.key("resize").add(src), [&] {
    return new ResampleForward(
        {{prop_kind::forward_training, g.alg, src, sameLayout(src, g.y)}, userScratchpad(), engine()});
  });
  Temps temps;
  Output out(env, r->pd.dst_desc(), g.y, temps);
  execute(r->primitive, r->pd.scratchpad_desc(), {{DNNL_ARG_SRC, viewAs(x, src, temps)}, {DNNL_ARG_DST, out.mem()}});
  return out.finish();
}

/** resize2dBackward(dy, {x, y, mode}) → dx: each output's gradient spread back by the forward's weights. */
Napi::Value Resize2dBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ResizeGeometry g = resizeGeometry(info[1], "resize2dBackward");
  Storage* dy = unwrap(info[0], g.y, "resize2dBackward");
  const memory::desc diffDst = layoutOf(dy, g.y);
  const memory::desc diffSrc = sameLayout(diffDst, g.x);
  auto r = cached<ResampleBackward>(g.key("resizeBackward").add(diffDst), [&] {
    dnnl::resampling_forward::primitive_desc hint({prop_kind::forward_training, g.alg, diffSrc, diffDst}, engine());
    return new ResampleBackward({{g.alg, diffSrc, diffDst}, userScratchpad(), engine(), hint});
  });
  Temps temps;
  Output out(env, r->pd.diff_src_desc(), g.x, temps);
  execute(r->primitive, r->pd.scratchpad_desc(),
          {{DNNL_ARG_DIFF_DST, viewAs(dy, r->pd.diff_dst_desc(), temps)}, {DNNL_ARG_DIFF_SRC, out.mem()}});
  return out.finish();
}

}  // namespace

void registerResampling(Napi::Env env, Napi::Object exports) {
  CONVNETS_EXPORT(exports, "resize2d", Resize2d);
  CONVNETS_EXPORT(exports, "resize2dBackward", Resize2dBackward);
}

}  // namespace convnets
