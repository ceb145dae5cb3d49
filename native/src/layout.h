// Memory layouts: plain row-major descriptors, oneDNN's blocked formats, and the reorders between them. Whether a
// kernel may leave its output blocked is one setting, blockedLayouts (DESIGN.md decision 1).
#pragma once

#include "storage.h"

namespace convnets {

/** Whether kernels may leave outputs in oneDNN's blocked layouts; false keeps every output plain. */
bool blockedLayouts();
void setBlockedLayouts(bool blocked);

int64_t product(const Dims& dims);
/** Row-major dense layout of `dims`. */
memory::desc plainDesc(const Dims& dims, DataType type = DataType::f32);
bool isPlain(const memory::desc& md);
/** The layout an elementwise kernel should use for a storage seen under logical `dims`. */
memory::desc layoutOf(const Storage* s, const Dims& dims);
/** `dims` in the same 4-D format as `like` (plain, channels-last or channel-blocked), else plain. */
memory::desc sameLayout(const memory::desc& like, const Dims& dims);

/** Where logical index `index` lies in layout `md`, in elements (plain, or blocked with any inner blocks). */
int64_t elementOffset(const memory::desc& md, const Dims& index);
/** Whether two layouts put every element at the same place (channels-last and channel-blocked with 16 channels). */
bool sameBytes(const memory::desc& a, const memory::desc& b);
/**
 * How a new storage in layout `md` is labelled: channel-blocked where channels-last is the same bytes, so that the
 * kernels after it see the layout they see elsewhere; else `md`.
 */
memory::desc storedAs(const memory::desc& md);

void reorder(const memory& from, const memory& to);
/** Sets every value of `m` (plain, float32 or int32) to `value`, as a recordable kernel. */
void fillWith(const memory& m, double value);
/** A plain view of `s` under `dims` (equal element count), reordering a blocked storage into a temporary. */
memory viewPlain(Storage* s, const Dims& dims, Temps& temps);
/** `s` in layout `md` (whose dims are the storage's logical dims), reordering into a temporary if needed. */
memory viewAs(Storage* s, const memory::desc& md, Temps& temps);
/**
 * Like viewAs, but a reordered copy stays with the storage's buffer for the next call that asks for the same
 * layout: for weights that are not being trained, which every call reads unchanged.
 */
memory viewKept(Storage* s, const memory::desc& md, Temps& temps);

/**
 * Where a primitive writes its result: straight into a new storage in the primitive's layout, or, when that
 * layout is blocked and blocked layouts are off (or `plainOnly`), into a temporary reordered to plain by finish().
 */
class Output {
 public:
  Output(Napi::Env env, const memory::desc& md, const Dims& logical, Temps& temps, bool plainOnly = false);
  const memory& mem() const { return mem_; }
  /** The new storage's handle (wrapped at construction, so a failed kernel leaves it to the garbage collector). */
  Napi::Value finish();

 private:
  Napi::Value handle_;
  memory mem_;
  memory target_;
};

}  // namespace convnets
