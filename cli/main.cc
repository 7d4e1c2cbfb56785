// The `layerseal` command: keygen, sign, verify, inspect, cri.
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  layerseal::cli::Args args(argv + 1, argv + argc);
  return layerseal::cli::Main(args, {std::cin, std::cout, std::cerr});
}
