// Recordings (recording.cc): the calls of one run, captured as they execute and replayed later without JavaScript
// in between. Kernels report what they run here; blocks report their lives here, since a replay writes the
// memory the recorded run used.
#pragma once

#include <functional>
#include <vector>

#include "execution.h"

namespace convnets {

/** Adds a primitive call to the recording being made, if any. */
void recordCall(const PrimitiveCall& call);

/**
 * A kernel written by hand (a fill, a copy, axpby). It finds its memory in `args` when it runs, never in pointers
 * it captured: a recording then pins exactly the memory it touches, and a replay may point its inputs (DNNL_ARG_SRC
 * and DNNL_ARG_SRC_1) at the caller's storages as it does a primitive's. Its outputs are DNNL_ARG_DST.
 */
using HandWritten = std::function<void(const Args& args)>;
/** The memory of argument `arg` as a T*, for a hand-written kernel. */
template <class T>
T* dataOf(const Args& args, int arg) {
  return static_cast<T*>(args.at(arg).get_data_handle());
}
/**
 * Runs a hand-written kernel on `args`, and adds it to the recording being made, if any. `elementwise`: each output
 * element depends on the same element of the inputs alone (axpby, a cast, a copy), so the kernel may write where it
 * reads, as a replayed training step does when it updates a parameter in the memory it read it from.
 */
void runHandWritten(const HandWritten& kernel, const Args& args, bool elementwise = false);

/** Marks the recording being made, if any, as one a replay cannot repeat (a value read, an upload). */
void notRecordable();
/** Keeps a block being freed while a recording uses it; false when none does. */
bool keepForRecording(void* block, size_t bytes);
/** A block of `bytes` freed earlier in the recording being made, to reuse; null if none. */
void* reuseInRecording(size_t bytes);
/** Notes a block allocated while a recording is made. */
void bornInRecording(void* block);

// image_by_image.cc
/**
 * A convolution and then a pooling of its output as calls alternating image by image, or none where that does
 * not apply (other primitives or arguments, a small or unsplittable batch).
 */
std::vector<PrimitiveCall> imageByImage(const PrimitiveCall& conv, const PrimitiveCall& pool);

}  // namespace convnets
