// The boundary with JavaScript: reading arguments and named attributes, turning C++ failures into JavaScript
// errors, and registering each source file's functions on the module's exports.
#pragma once

#include <napi.h>

#include <stdexcept>
#include <string>

#include "storage.h"

namespace convnets {

Dims toDims(const Napi::Value& value);
int64_t toInt(const Napi::Value& value);
double toDouble(const Napi::Value& value);
/** Whether an optional argument was passed (neither null nor undefined). */
bool given(const Napi::Value& value);

/**
 * The named attributes of one call (a convolution's geometry, a pooling window), read by name: a missing or
 * mistyped attribute is an error naming the kernel and the attribute.
 */
class Attributes {
 public:
  Attributes(const Napi::Value& value, const char* op);
  Dims dims(const char* name) const;
  int64_t integer(const char* name) const;
  double number(const char* name) const;
  bool flag(const char* name) const;
  std::string text(const char* name) const;
  /** The attribute as given, for optional storage handles. */
  Napi::Value value(const char* name) const;
  const char* op() const { return op_; }

 private:
  Napi::Value required(const char* name) const;
  [[noreturn]] void malformed(const char* name, const char* expected) const;
  Napi::Object object_;
  const char* op_;
};

/** Registers the functions of one source file on the module's exports. */
void registerStorage(Napi::Env env, Napi::Object exports);
void registerElementwise(Napi::Env env, Napi::Object exports);
void registerMovement(Napi::Env env, Napi::Object exports);
void registerConvolution(Napi::Env env, Napi::Object exports);
void registerPoolingAndNorm(Napi::Env env, Napi::Object exports);
void registerResampling(Napi::Env env, Napi::Object exports);
void registerRecording(Napi::Env env, Napi::Object exports);

/** Wraps a function so oneDNN and allocation failures reach JavaScript as errors, never as aborts. */
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::invalid_argument& e) {
    // Arguments a kernel cannot run on, its message naming them.
    throw Napi::Error::New(info.Env(), e.what());
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "native backend: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("native backend: ") + e.what());
  }
}

#define CONVNETS_EXPORT(exports, name, fn) \
  exports.Set(name, Napi::Function::New(env, guarded<fn>, name))

}  // namespace convnets
