// Matrix products and data movement on oneDNN: matmul, and permute, slice, pad and concat as reorders between
// strided views of plain memory, or of channel-blocked memory where the box keeps whole blocks.
#include <cstring>

#include "binding.h"
#include "execution.h"
#include "layout.h"
#include "recording.h"

namespace convnets {

namespace {

Dims rowMajorStrides(const Dims& dims) {
  Dims strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  return strides;
}

using Matmul = Compiled<dnnl::matmul::primitive_desc, dnnl::matmul>;
using InnerProduct = Compiled<dnnl::inner_product_forward::primitive_desc, dnnl::inner_product_forward>;

/** A [batch, rows, cols] matrix stored row-major, or its transpose when `transposed` (stored [batch, cols, rows]). */
memory::desc matrixDesc(int64_t batch, int64_t rows, int64_t cols, bool transposed) {
  const Dims strides = transposed ? Dims{rows * cols, 1, rows} : Dims{rows * cols, cols, 1};
  return memory::desc({batch, rows, cols}, DataType::f32, strides);
}

/** matmul(a, b, {batch, m, k, n, transposeA, transposeB}) → [batch, m, n]. */
Napi::Value MatmulFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Attributes attrs(info[2], "matmul");
  const int64_t batch = attrs.integer("batch"), m = attrs.integer("m"), k = attrs.integer("k"), n = attrs.integer("n");
  const bool ta = attrs.flag("transposeA"), tb = attrs.flag("transposeB");
  Storage* a = unwrap(info[0], {batch * m * k}, "matmul");
  Storage* b = unwrap(info[1], {batch * k * n}, "matmul");
  Temps temps;
  const memory::desc aMd = matrixDesc(batch, m, k, ta), bMd = matrixDesc(batch, k, n, tb);
  const memory::desc cMd = plainDesc({batch, m, n});
  Output out(env, cMd, {batch, m, n}, temps);
  if (batch * m * n == 0) return out.finish();
  if (k == 0) {
    fillWith(out.mem(), 0);
    return out.finish();
  }
  if (batch == 1 && m == 1 && !ta && tb) {
    // One row times the transpose of [n, k] weights (a fully connected layer at batch 1): oneDNN's inner product
    // runs a gemm kernel on the weights' own layout, which streams them faster than matmul does through the
    // transposed view (VGG-16's fc6, 411 MB, on two threads: 12.2-14.0 ms against 19.1-23.7 alone, 15.0-15.2
    // against 16.1-18.9 within the model). At 8 rows matmul is the faster of the two.
    const memory::desc x = plainDesc({1, k}), w = plainDesc({n, k}), y = plainDesc({1, n});
    auto ip = cached<InnerProduct>(Key("inner product").add(w), [&] {
      return new InnerProduct({{dnnl::prop_kind::forward_inference, x, w, y}, userScratchpad(), engine()});
    });
    execute(ip->primitive, ip->pd.scratchpad_desc(),
            {{DNNL_ARG_SRC, memory(x, engine(), viewPlain(a, {k}, temps).get_data_handle())},
             {DNNL_ARG_WEIGHTS, memory(w, engine(), viewPlain(b, {n * k}, temps).get_data_handle())},
             {DNNL_ARG_DST, memory(y, engine(), out.mem().get_data_handle())}});
    return out.finish();
  }
  auto mm = cached<Matmul>(Key("matmul").add(aMd).add(bMd).add(cMd), [&] {
    return new Matmul({dnnl::matmul::desc(aMd, bMd, cMd), userScratchpad(), engine()});
  });
  memory aMem(aMd, engine(), viewPlain(a, {batch * m * k}, temps).get_data_handle());
  memory bMem(bMd, engine(), viewPlain(b, {batch * k * n}, temps).get_data_handle());
  execute(mm->primitive, mm->pd.scratchpad_desc(),
          {{DNNL_ARG_SRC, aMem}, {DNNL_ARG_WEIGHTS, bMem}, {DNNL_ARG_DST, out.mem()}});
  return out.finish();
}

/** permute(x, dims, perm) → x with axis i of the result taken from axis perm[i]. */
Napi::Value Permute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[1]);
  const Dims perm = toDims(info[2]);
  Storage* x = unwrap(info[0], dims, "permute");
  if (perm.size() != dims.size()) throw Napi::RangeError::New(env, "permute: permutation rank differs");
  const Dims strides = rowMajorStrides(dims);
  Dims outDims(dims.size()), outStrides(dims.size());
  for (size_t i = 0; i < perm.size(); i++) {
    if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(dims.size())) {
      throw Napi::RangeError::New(env, "permute: axis out of range");
    }
    outDims[i] = dims[perm[i]];
    outStrides[i] = strides[perm[i]];
  }
  const DataType type = x->md.data_type();
  Temps temps;
  memory src = viewPlain(x, dims, temps);
  Output out(env, plainDesc(outDims, type), outDims, temps);
  if (x->elements > 0) {
    reorder(memory(memory::desc(outDims, type, outStrides), engine(), src.get_data_handle()), out.mem());
  }
  return out.finish();
}

/** The channel block of a 4-D channel-blocked layout (nChw16c, nChw8c), else 0. */
int64_t channelBlock(const memory::desc& md) {
  using Tag = memory::format_tag;
  if (md.dims().size() != 4) return 0;
  for (auto [tag, block] : {std::pair{Tag::aBcd16b, 16}, std::pair{Tag::aBcd8b, 8}}) {
    if (memory::desc(md.dims(), md.data_type(), tag) == md) return block;
  }
  return 0;
}

/**
 * Whether a slice or pad of `x`, seen under `dims`, may keep its channel-blocked layout: its channels, the box's
 * first channel `channelOffset` and the output's `outChannels` all whole blocks (a CIFAR ResNet's option-A shortcut
 * pads 16 channels to 32; its gradient takes the 16 back), so no element moves between blocks and no reorder to
 * plain and back is needed.
 */
bool keepsBlocks(const Storage* x, const Dims& dims, int64_t channelOffset, int64_t outChannels) {
  const int64_t block = blockedLayouts() && x->md.dims() == dims ? channelBlock(x->md) : 0;
  return block > 0 && dims[1] % block == 0 && channelOffset % block == 0 && outChannels % block == 0;
}

/** slice(x, dims, begin, size) → the box of `size` starting at `begin`. */
Napi::Value Slice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[1]), begin = toDims(info[2]), size = toDims(info[3]);
  Storage* x = unwrap(info[0], dims, "slice");
  if (begin.size() != dims.size() || size.size() != dims.size()) {
    throw Napi::RangeError::New(env, "slice: begin and size must have the input's rank");
  }
  for (size_t i = 0; i < dims.size(); i++) {
    if (begin[i] + size[i] > dims[i]) throw Napi::RangeError::New(env, "slice: box exceeds the input");
  }
  const DataType type = x->md.data_type();
  const bool blocked = dims.size() == 4 && keepsBlocks(x, dims, begin[1], size[1]);
  Temps temps;
  Output out(env, blocked ? sameLayout(x->md, size) : plainDesc(size, type), size, temps);
  if (product(size) > 0) {
    memory src = blocked ? memory(x->md, engine(), x->data) : viewPlain(x, dims, temps);
    const memory::desc box = src.get_desc().submemory_desc(size, begin);
    reorder(memory(box, engine(), src.get_data_handle()), out.mem());
  }
  return out.finish();
}

/** Writes `part` into the box of `into` at `offsets` (plain, or blocked with the offsets on block boundaries). */
void place(const memory& part, const memory& into, const Dims& offsets) {
  const memory::desc box = into.get_desc().submemory_desc(part.get_desc().dims(), offsets);
  reorder(part, memory(box, engine(), into.get_data_handle()));
}



/** pad(x, dims, before, after, value) → x surrounded by `value`. */
Napi::Value Pad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[1]), before = toDims(info[2]), after = toDims(info[3]);
  const double value = toDouble(info[4]);
  Storage* x = unwrap(info[0], dims, "pad");
  if (before.size() != dims.size() || after.size() != dims.size()) {
    throw Napi::RangeError::New(env, "pad: before and after must have the input's rank");
  }
  Dims outDims(dims.size());
  for (size_t i = 0; i < dims.size(); i++) outDims[i] = dims[i] + before[i] + after[i];
  const DataType type = x->md.data_type();
  const bool blocked = dims.size() == 4 && keepsBlocks(x, dims, before[1], outDims[1]);
  Temps temps;
  Output out(env, blocked ? sameLayout(x->md, outDims) : plainDesc(outDims, type), outDims, temps);
  fillWith(out.mem(), value);
  if (x->elements > 0) {
    place(blocked ? memory(x->md, engine(), x->data) : viewPlain(x, dims, temps), out.mem(), before);
  }
  return out.finish();
}

/**
 * Whether 4-D parts share one channel-blocked layout and each fills whole blocks, so that joining them along the
 * channels keeps that layout (GoogLeNet's and DenseNet's concatenations): one copy per part, and the next
 * convolution reads the result without a reorder.
 */
bool joinsWholeBlocks(const std::vector<Storage*>& parts, const std::vector<Dims>& dims) {
  const memory::desc& first = parts[0]->md;
  const int64_t block = channelBlock(first);
  if (block == 0) return false;
  for (size_t i = 0; i < parts.size(); i++) {
    const memory::desc& md = parts[i]->md;
    if (md.dims() != dims[i] || dims[i][1] % block != 0 || md != sameLayout(first, dims[i])) return false;
  }
  return true;
}

/** concat(handles, dimsList, axis) → the inputs joined along `axis`. */
Napi::Value Concat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto handles = info[0].As<Napi::Array>();
  auto shapes = info[1].As<Napi::Array>();
  const int64_t axis = toInt(info[2]);
  if (handles.Length() == 0 || handles.Length() != shapes.Length()) {
    throw Napi::RangeError::New(env, "concat: needs one shape per input, and at least one input");
  }
  std::vector<Storage*> parts;
  std::vector<Dims> dims;
  for (uint32_t i = 0; i < handles.Length(); i++) {
    dims.push_back(toDims(shapes.Get(i)));
    parts.push_back(unwrap(handles.Get(i), dims.back(), "concat"));
  }
  Dims outDims = dims[0];
  if (axis < 0 || axis >= static_cast<int64_t>(outDims.size())) throw Napi::RangeError::New(env, "concat: bad axis");
  outDims[axis] = 0;
  for (const Dims& d : dims) {
    if (d.size() != outDims.size()) throw Napi::RangeError::New(env, "concat: ranks differ");
    outDims[axis] += d[axis];
  }
  const DataType type = parts[0]->md.data_type();
  for (Storage* part : parts) {
    if (part->md.data_type() != type) throw Napi::TypeError::New(env, "concat: dtypes differ");
  }
  const bool blocked = axis == 1 && blockedLayouts() && joinsWholeBlocks(parts, dims);
  Temps temps;
  Output out(env, blocked ? sameLayout(parts[0]->md, outDims) : plainDesc(outDims, type), outDims, temps);
  Dims offsets(outDims.size(), 0);
  for (size_t i = 0; i < parts.size(); i++) {
    if (parts[i]->elements > 0) {
      place(blocked ? memory(parts[i]->md, engine(), parts[i]->data) : viewPlain(parts[i], dims[i], temps), out.mem(),
            offsets);
    }
    offsets[axis] += dims[i][axis];
  }
  return out.finish();
}

/** oneHot(labels, n, numClasses) → float32 [n, numClasses] with a 1 at each int32 label (none outside the range). */
Napi::Value OneHot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t n = toInt(info[1]), classes = toInt(info[2]);
  Storage* labels = unwrap(info[0], {n}, "oneHot");
  Temps temps;
  const memory src = viewPlain(labels, {n}, temps);
  Output out(env, plainDesc({n, classes}), {n, classes}, temps);
  runHandWritten(
      [n, classes](const Args& args) {
        const int32_t* label = dataOf<int32_t>(args, DNNL_ARG_SRC);
        float* rows = dataOf<float>(args, DNNL_ARG_DST);
        std::fill(rows, rows + n * classes, 0.f);
        for (int64_t i = 0; i < n; i++) {
          if (label[i] >= 0 && label[i] < classes) rows[i * classes + label[i]] = 1.f;
        }
      },
      {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out.mem()}});
  return out.finish();
}

}  // namespace

void registerMovement(Napi::Env env, Napi::Object exports) {
  CONVNETS_EXPORT(exports, "matmul", MatmulFn);
  CONVNETS_EXPORT(exports, "permute", Permute);
  CONVNETS_EXPORT(exports, "slice", Slice);
  CONVNETS_EXPORT(exports, "pad", Pad);
  CONVNETS_EXPORT(exports, "concat", Concat);
  CONVNETS_EXPORT(exports, "oneHot", OneHot);
}

}  // namespace convnets
