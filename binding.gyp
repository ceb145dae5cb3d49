{
  "targets": [
    {
      "target_name": "convnets_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/binding.cc",
        "native/src/storage.cc",
        "native/src/layout.cc",
        "native/src/execution.cc",
        "native/src/elementwise.cc",
        "native/src/movement.cc",
        "native/src/convolution.cc",
        "native/src/pooling_norm.cc",
        "native/src/resampling.cc",
        "native/src/recording.cc",
        "native/src/image_by_image.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_EXPERIMENTAL", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-fopenmp", "-Wall", "-Wno-unused-function"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
