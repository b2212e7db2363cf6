{
  "targets": [
    {
      "target_name": "shoal_native",
      "sources": ["src/addon.cc", "src/udp_socket.cc", "src/tcp_relay.cc", "src/tcp_relay_js.cc"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-ldl", "-pthread"],
      "cflags_cc": ["-std=c++17", "-pthread", "-fno-exceptions", "-Wall", "-Wextra", "-O2"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
