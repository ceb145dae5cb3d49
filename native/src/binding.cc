#include "binding.h"

namespace convnets {

Dims toDims(const Napi::Value& value) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), "expected an array of dimensions");
  auto array = value.As<Napi::Array>();
  Dims dims(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) dims[i] = toInt(array.Get(i));
  for (int64_t d : dims) {
    if (d < 0) throw Napi::RangeError::New(value.Env(), "negative dimension");
  }
  // oneDNN has no rank-0 memory: a scalar is one value of shape [1].
  if (dims.empty()) dims.push_back(1);
  if (dims.size() > DNNL_MAX_NDIMS) throw Napi::RangeError::New(value.Env(), "more than 12 dimensions");
  return dims;
}

int64_t toInt(const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), "expected a number");
  return value.As<Napi::Number>().Int64Value();
}

double toDouble(const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), "expected a number");
  return value.As<Napi::Number>().DoubleValue();
}

bool given(const Napi::Value& value) { return !value.IsNull() && !value.IsUndefined(); }

Attributes::Attributes(const Napi::Value& value, const char* op) : op_(op) {
  if (!value.IsObject()) throw Napi::TypeError::New(value.Env(), std::string(op) + ": expected an attributes object");
  object_ = value.As<Napi::Object>();
}

void Attributes::malformed(const char* name, const char* expected) const {
  throw Napi::TypeError::New(object_.Env(), std::string(op_) + ": attribute '" + name + "' must be " + expected);
}

Napi::Value Attributes::required(const char* name) const {
  Napi::Value v = object_.Get(name);
  if (v.IsUndefined()) {
    throw Napi::TypeError::New(object_.Env(), std::string(op_) + ": attribute '" + name + "' is missing");
  }
  return v;
}

Dims Attributes::dims(const char* name) const {
  const Napi::Value v = required(name);
  if (!v.IsArray()) malformed(name, "an array of non-negative integers");
  auto array = v.As<Napi::Array>();
  Dims dims(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    const Napi::Value d = array.Get(i);
    if (!d.IsNumber() || d.As<Napi::Number>().DoubleValue() < 0) malformed(name, "an array of non-negative integers");
    dims[i] = d.As<Napi::Number>().Int64Value();
  }
  return dims;
}

int64_t Attributes::integer(const char* name) const {
  const Napi::Value v = required(name);
  if (!v.IsNumber()) malformed(name, "a number");
  return v.As<Napi::Number>().Int64Value();
}

double Attributes::number(const char* name) const {
  const Napi::Value v = required(name);
  if (!v.IsNumber()) malformed(name, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool Attributes::flag(const char* name) const { return object_.Get(name).ToBoolean().Value(); }

std::string Attributes::text(const char* name) const {
  const Napi::Value v = required(name);
  if (!v.IsString()) malformed(name, "a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Value Attributes::value(const char* name) const { return object_.Get(name); }

}  // namespace convnets
