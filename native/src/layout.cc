#include "layout.h"

#include <algorithm>

#include "execution.h"
#include "recording.h"

namespace convnets {

namespace {

bool blockedLayoutsOn = true;

}  // namespace

bool blockedLayouts() { return blockedLayoutsOn; }
void setBlockedLayouts(bool blocked) { blockedLayoutsOn = blocked; }

int64_t product(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

memory::desc plainDesc(const Dims& dims, DataType type) {
  Dims strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  return memory::desc(dims, type, strides);
}

bool isPlain(const memory::desc& md) { return md == plainDesc(md.dims(), md.data_type()); }

memory::desc layoutOf(const Storage* s, const Dims& dims) {
  if (!isPlain(s->md) && s->md.dims() == dims) return s->md;
  return plainDesc(dims, s->md.data_type());
}

memory::desc sameLayout(const memory::desc& like, const Dims& dims) {
  using Tag = memory::format_tag;
  if (like.dims().size() == dims.size() && dims.size() == 4) {
    for (Tag tag : {Tag::abcd, Tag::acdb, Tag::aBcd16b, Tag::aBcd8b, Tag::aBcd4b}) {
      if (memory::desc(like.dims(), like.data_type(), tag) == like) return memory::desc(dims, like.data_type(), tag);
    }
  }
  return plainDesc(dims, like.data_type());
}

namespace {

/** Each dimension's inner block: the product of the blocks it is split into (1 where it is not). */
Dims innerBlocks(const memory::desc& md) {
  const dnnl_blocking_desc_t& b = md.data.format_desc.blocking;
  Dims blocked(md.data.ndims, 1);
  for (int k = 0; k < b.inner_nblks; k++) blocked[b.inner_idxs[k]] *= b.inner_blks[k];
  return blocked;
}

}  // namespace

int64_t elementOffset(const memory::desc& md, const Dims& index) {
  const dnnl_memory_desc_t& d = md.data;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  // Each dimension's index splits into an outer part (times the dimension's stride) and the digits of its inner
  // blocks, innermost block last.
  const Dims blocked = innerBlocks(md);
  Dims rest(d.ndims);
  int64_t offset = d.offset0;
  for (int i = 0; i < d.ndims; i++) {
    offset += index[i] / blocked[i] * b.strides[i];
    rest[i] = index[i] % blocked[i];
  }
  int64_t innerStride = 1;
  for (int k = b.inner_nblks - 1; k >= 0; k--) {
    const int i = b.inner_idxs[k];
    offset += rest[i] % b.inner_blks[k] * innerStride;
    rest[i] /= b.inner_blks[k];
    innerStride *= b.inner_blks[k];
  }
  return offset;
}

bool sameBytes(const memory::desc& a, const memory::desc& b) {
  if (a == b) return true;
  if (a.data.format_kind != dnnl_blocked || b.data.format_kind != dnnl_blocked || a.dims() != b.dims() ||
      a.data_type() != b.data_type() || a.get_size() != b.get_size()) {
    return false;
  }
  // A blocked layout's offset is a sum of one term per dimension, f(i) = i / B · stride + the place of i % B in the
  // dimension's inner block B: f(qM + r) = q · f(M) + f(r) for any multiple M of B. So two layouts agree along an
  // axis when they agree from 0 to the larger of their blocks there (the blocks are powers of two), and agree
  // everywhere when they agree along every axis.
  const Dims dims = a.dims(), blocksA = innerBlocks(a), blocksB = innerBlocks(b);
  Dims index(dims.size(), 0);
  for (size_t d = 0; d < dims.size(); d++) {
    const int64_t last = std::min(dims[d] - 1, std::max(blocksA[d], blocksB[d]));
    for (index[d] = 0; index[d] <= last; index[d]++) {
      if (elementOffset(a, index) != elementOffset(b, index)) return false;
    }
    index[d] = 0;
  }
  return true;
}

memory::desc storedAs(const memory::desc& md) {
  using Tag = memory::format_tag;
  if (md.dims().size() != 4 || md != memory::desc(md.dims(), md.data_type(), Tag::nhwc)) return md;
  const memory::desc blocked(md.dims(), md.data_type(), Tag::aBcd16b);
  return sameBytes(blocked, md) ? blocked : md;
}

void reorder(const memory& from, const memory& to) {
  using R = Compiled<dnnl::reorder::primitive_desc, dnnl::reorder>;
  const memory::desc src = from.get_desc();
  const memory::desc dst = to.get_desc();
  auto r = cached<R>(Key("reorder").add(src).add(dst), [&] {
    return new R(dnnl::reorder::primitive_desc(engine(), src, engine(), dst, userScratchpad()));
  });
  execute(r->primitive, r->pd.scratchpad_desc(), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

memory viewPlain(Storage* s, const Dims& dims, Temps& temps) {
  const DataType type = s->md.data_type();
  if (isPlain(s->md)) return memory(plainDesc(dims, type), engine(), s->data);
  memory plain = temps.make(plainDesc(s->md.dims(), type));
  reorder(memory(s->md, engine(), s->data), plain);
  return memory(plainDesc(dims, type), engine(), plain.get_data_handle());
}

memory viewAs(Storage* s, const memory::desc& md, Temps& temps) {
  if (sameBytes(s->md, md)) return memory(md, engine(), s->data);
  memory from = (isPlain(s->md) || s->md.dims() != md.dims()) ? viewPlain(s, md.dims(), temps)
                                                               : memory(s->md, engine(), s->data);
  if (from.get_desc() == md) return from;
  memory to = temps.make(md);
  reorder(from, to);
  return to;
}

memory viewKept(Storage* s, const memory::desc& md, Temps& temps) {
  if (s->md == md) return memory(md, engine(), s->data);
  // Forward and backward-data may want different layouts of the same weights: keep one of each.
  constexpr size_t kKeptLayouts = 2;
  auto& kept = s->buffer->kept;
  for (auto& [keptMd, copy] : kept) {
    if (keptMd == md) return memory(md, engine(), copy->data);
  }
  memory from = (isPlain(s->md) || s->md.dims() != md.dims()) ? viewPlain(s, md.dims(), temps)
                                                               : memory(s->md, engine(), s->data);
  auto copy = std::make_unique<Buffer>(md.get_size());
  memory to(md, engine(), copy->data);
  reorder(from, to);
  if (kept.size() == kKeptLayouts) kept.erase(kept.begin());
  kept.emplace_back(md, std::move(copy));
  return to;
}

Output::Output(Napi::Env env, const memory::desc& md, const Dims& logical, Temps& temps, bool plainOnly) {
  Storage* storage;
  if (isPlain(md) || (blockedLayouts() && !plainOnly)) {
    storage = allocate(storedAs(md), product(logical));
    mem_ = memory(md, engine(), storage->data);
  } else {
    mem_ = temps.make(md);
    const memory::desc plain = plainDesc(md.dims(), md.data_type());
    storage = allocate(plain, product(logical));
    target_ = memory(plain, engine(), storage->data);
  }
  handle_ = wrap(env, storage);
}

Napi::Value Output::finish() {
  if (target_) reorder(mem_, target_);
  return handle_;
}

void fillWith(const memory& m, double value) {
  const int64_t n = product(m.get_desc().dims());
  const bool integers = m.get_desc().data_type() == DataType::s32;
  runHandWritten(
      [n, integers, value](const Args& args) {
        if (integers) {
          int32_t* data = dataOf<int32_t>(args, DNNL_ARG_DST);
          std::fill(data, data + n, static_cast<int32_t>(value));
        } else {
          float* data = dataOf<float>(args, DNNL_ARG_DST);
          std::fill(data, data + n, static_cast<float>(value));
        }
      },
      {{DNNL_ARG_DST, m}}, true);
}

}  // namespace convnets
