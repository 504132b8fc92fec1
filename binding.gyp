{
  "targets": [
    {
      "target_name": "forkserve",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/sockets.cc",
        "native/process.cc",
        "native/signals.cc",
        "native/fork.cc",
        "native/watch.cc",
        "native/inherited.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='linux'", {
          # Bind every symbol at load time, in the parent: otherwise each forked child resolves the
          # ones only children call (_exit, uv_loop_fork, ...) again and faults in the linker's
          # tables (measured: 492 -> 450 page faults per request).
          "ldflags": ["-Wl,-z,now"]
        }]
      ],
      "xcode_settings": {
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
      }
    }
  ]
}
