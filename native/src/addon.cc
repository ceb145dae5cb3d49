// Module entry point, library information, threads, and the storage functions: upload, read, fill, release,
// reshape (a plain copy) and cast.
#include <omp.h>

#include <cmath>
#include <cstring>
#include <thread>

#include "binding.h"
#include "execution.h"
#include "layout.h"
#include "recording.h"

namespace convnets {

namespace {

DataType typeOf(const Napi::Value& code) {
  // 0 is float32, 1 int32: the two dtypes of the Backend interface.
  return toInt(code) == 1 ? DataType::s32 : DataType::f32;
}

void checkTyped(const Napi::Value& value, DataType type, int64_t length, const char* what) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected a typed array");
  auto array = value.As<Napi::TypedArray>();
  const auto want = type == DataType::s32 ? napi_int32_array : napi_float32_array;
  if (array.TypedArrayType() != want) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + ": typed array of the wrong element type");
  }
  if (static_cast<int64_t>(array.ElementLength()) != length) {
    throw Napi::RangeError::New(value.Env(), std::string(what) + ": typed array length does not match the shape");
  }
}

void* typedData(const Napi::Value& value) {
  auto array = value.As<Napi::TypedArray>();
  return static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  const Dims dims = toDims(info[1]);
  const DataType type = typeOf(info[2]);
  checkTyped(info[0], type, product(dims), "upload");
  notRecordable();
  Storage* s = allocate(plainDesc(dims, type), product(dims));
  std::memcpy(s->data, typedData(info[0]), s->bytes);
  return wrap(info.Env(), s);
}

/** read(handle, dims, destination): the logical row-major values, converted to the destination's type. */
Napi::Value Read(const Napi::CallbackInfo& info) {
  const Dims dims = toDims(info[1]);
  Storage* s = unwrap(info[0], dims, "read");
  if (!info[2].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "read: expected a typed array");
  const DataType type =
      info[2].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array ? DataType::s32 : DataType::f32;
  checkTyped(info[2], type, product(dims), "read");
  notRecordable();  // JavaScript may act on the values, which a replay would not do again
  // Blocked layouts and max pooling's u8 workspace both come out through one reorder.
  const Dims own = isPlain(s->md) ? dims : s->md.dims();
  memory from = isPlain(s->md) ? memory(plainDesc(dims, s->md.data_type()), engine(), s->data)
                               : memory(s->md, engine(), s->data);
  memory to(plainDesc(own, type), engine(), typedData(info[2]));
  if (from.get_desc() == to.get_desc()) {
    std::memcpy(to.get_data_handle(), from.get_data_handle(), to.get_desc().get_size());
  } else if (s->elements > 0) {
    reorder(from, to);
  }
  return info.Env().Undefined();
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  const Dims dims = toDims(info[0]);
  Storage* s = allocate(plainDesc(dims, typeOf(info[2])), product(dims));
  if (s->elements > 0) fillWith(memory(s->md, engine(), s->data), toDouble(info[1]));
  return wrap(info.Env(), s);
}

Napi::Value Release(const Napi::CallbackInfo& info) {
  release(info[0]);
  return info.Env().Undefined();
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  int64_t storages = 0, bytes = 0, collected = 0, pooled = 0, system = 0, peak = 0;
  liveCounts(storages, bytes, collected);
  heldCounts(pooled, system, peak);
  auto out = Napi::Array::New(info.Env(), 6);
  out.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(storages)));
  out.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(bytes)));
  out.Set(2u, Napi::Number::New(info.Env(), static_cast<double>(collected)));
  out.Set(3u, Napi::Number::New(info.Env(), static_cast<double>(pooled)));
  out.Set(4u, Napi::Number::New(info.Env(), static_cast<double>(system)));
  out.Set(5u, Napi::Number::New(info.Env(), static_cast<double>(peak)));
  return out;
}

/** reshape(handle, dims, newDims): the same values row-major under newDims; a plain storage is aliased, not copied. */
Napi::Value Reshape(const Napi::CallbackInfo& info) {
  const Dims dims = toDims(info[1]);
  const Dims newDims = toDims(info[2]);
  Storage* s = unwrap(info[0], dims, "reshape");
  if (product(newDims) != s->elements) throw Napi::RangeError::New(info.Env(), "reshape: sizes differ");
  const DataType type = s->md.data_type();
  if (isPlain(s->md)) return wrap(info.Env(), alias(s, plainDesc(newDims, type)));
  if (newDims == s->md.dims()) return wrap(info.Env(), alias(s, s->md));
  Storage* out = allocate(plainDesc(newDims, type), s->elements);
  reorder(memory(s->md, engine(), s->data), memory(plainDesc(s->md.dims(), type), engine(), out->data));
  return wrap(info.Env(), out);
}

/** float32 → int32 truncates toward zero as Int32Array.from(values, Math.trunc) does (NaN and ±∞ give 0). */
int32_t truncateToInt32(float v) {
  if (!std::isfinite(v)) return 0;
  const double t = std::trunc(static_cast<double>(v));
  const double wrapped = std::fmod(t, 4294967296.0);
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(wrapped < 0 ? wrapped + 4294967296.0 : wrapped)));
}

/** cast(handle, dims, dtype) → the values in a new plain storage of that dtype (int32 truncates toward zero). */
Napi::Value Cast(const Napi::CallbackInfo& info) {
  const Dims dims = toDims(info[1]);
  Storage* s = unwrap(info[0], dims, "cast");
  const DataType from = s->md.data_type(), to = typeOf(info[2]);
  Temps temps;
  const memory plain = viewPlain(s, dims, temps);
  Storage* out = allocate(plainDesc(dims, to), s->elements);
  const int64_t n = s->elements;
  if (n == 0) return wrap(info.Env(), out);
  runHandWritten(
      [n, from, to](const Args& args) {
        if (from == to) {
          std::memcpy(dataOf<void>(args, DNNL_ARG_DST), dataOf<void>(args, DNNL_ARG_SRC), n * 4);
        } else if (to == DataType::s32) {
          const float* x = dataOf<float>(args, DNNL_ARG_SRC);
          int32_t* y = dataOf<int32_t>(args, DNNL_ARG_DST);
          for (int64_t i = 0; i < n; i++) y[i] = truncateToInt32(x[i]);
        } else {
          const int32_t* x = dataOf<int32_t>(args, DNNL_ARG_SRC);
          float* y = dataOf<float>(args, DNNL_ARG_DST);
          for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(x[i]);
        }
      },
      {{DNNL_ARG_SRC, plain}, {DNNL_ARG_DST, memory(out->md, engine(), out->data)}}, true);
  return wrap(info.Env(), out);
}

const char* isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dnnl_version_t* v = dnnl_version();
  auto out = Napi::Object::New(env);
  out.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  out.Set("isa", isaName(dnnl::get_effective_cpu_isa()));
  out.Set("threads", omp_get_max_threads());
  out.Set("blockedLayouts", blockedLayouts());
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int64_t n = toInt(info[0]);
  if (n < 1) throw Napi::RangeError::New(info.Env(), "threads must be at least 1");
  return Napi::Number::New(info.Env(), setThreads(static_cast<int>(n)));
}

/** isBlocked(handle): whether the storage is in a oneDNN blocked layout rather than plain row-major. */
Napi::Value IsBlocked(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !isPlain(unwrap(info[0])->md));
}

Napi::Value SetBlockedLayouts(const Napi::CallbackInfo& info) {
  setBlockedLayouts(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

}  // namespace

void registerStorage(Napi::Env env, Napi::Object exports) {
  CONVNETS_EXPORT(exports, "upload", Upload);
  CONVNETS_EXPORT(exports, "read", Read);
  CONVNETS_EXPORT(exports, "fill", Fill);
  CONVNETS_EXPORT(exports, "release", Release);
  CONVNETS_EXPORT(exports, "memory", Memory);
  CONVNETS_EXPORT(exports, "reshape", Reshape);
  CONVNETS_EXPORT(exports, "cast", Cast);
  CONVNETS_EXPORT(exports, "info", Info);
  CONVNETS_EXPORT(exports, "setThreads", SetThreads);
  CONVNETS_EXPORT(exports, "setBlockedLayouts", SetBlockedLayouts);
  CONVNETS_EXPORT(exports, "isBlocked", IsBlocked);
}

}  // namespace convnets

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The addon's caches, pool and scratchpad belong to one thread: the first that loads it (decision 10).
  static const std::thread::id owner = std::this_thread::get_id();
  if (std::this_thread::get_id() != owner) {
    throw Napi::Error::New(env, "convnets_native runs on the main thread only, not in worker threads");
  }
  convnets::initialize(env);
  convnets::registerStorage(env, exports);
  convnets::registerElementwise(env, exports);
  convnets::registerMovement(env, exports);
  convnets::registerConvolution(env, exports);
  convnets::registerPoolingAndNorm(env, exports);
  convnets::registerResampling(env, exports);
  convnets::registerRecording(env, exports);
  return exports;
}

NODE_API_MODULE(convnets_native, Init)
