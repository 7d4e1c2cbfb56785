# -DLAYERSEAL_FUZZ=ON (with clang): every project library is instrumented for libFuzzer
# (-fsanitize=fuzzer-no-link) under AddressSanitizer and UndefinedBehaviorSanitizer, and the
# targets of tests/fuzz link libFuzzer's main. Included by the top-level CMakeLists.txt before
# any library, so the flags reach all of them. scripts/fuzz configures such a build.
option(LAYERSEAL_FUZZ "Build libFuzzer targets (clang only; instruments every library)" OFF)
if(LAYERSEAL_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "LAYERSEAL_FUZZ needs clang (-DCMAKE_C_COMPILER=clang "
                        "-DCMAKE_CXX_COMPILER=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(LAYERSEAL_SANITIZE)
    message(FATAL_ERROR "LAYERSEAL_FUZZ sets its own sanitizers; leave LAYERSEAL_SANITIZE empty")
  endif()
  # No recovery: a UBSan report aborts, so libFuzzer keeps the input as a crash.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
