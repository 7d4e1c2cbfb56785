// The `layerseal` command: keygen, sign, verify, inspect, cri, events, policy, verify-bundle.
#include <grpc/grpc.h>

#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // gRPC is started here and shut down, blocking, once the command has returned and every
  // channel it made is gone: without it gRPC frees its TLS state on its own thread while the
  // process exits, and LeakSanitizer saw that state as leaked (cli_events_test under ASan).
  grpc_init();
  int rc;
  {
    layerseal::cli::Args args(argv + 1, argv + argc);
    rc = layerseal::cli::Main(args, {std::cin, std::cout, std::cerr});
  }
  grpc_shutdown_blocking();
  return rc;
}
