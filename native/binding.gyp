{
  "targets": [
    {
      "target_name": "shoal_native",
      "sources": ["src/addon.cc", "src/udp_socket.cc"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-ldl"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-Wall", "-Wextra", "-O2"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
