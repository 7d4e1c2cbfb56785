# Explicit build targets, in the manner of abseil's absl_cc_library / absl_cc_test: every
# target names its sources and its dependencies; nothing is found by globbing, so a file that
# is added without being listed is caught by layerseal_check_listed() at configure time.
#
# layerseal_cc_library(NAME <target> SRCS <files...> [DEPS <public deps...>]
#                      [PRIVATE_DEPS <deps...>] [DEFINES <public defines...>] [NO_UNITY])
#   A static library (an INTERFACE library when SRCS is empty: headers only). Includes are
#   rooted at the project ("base/str_cat.h"). Project warnings are errors.
#
# layerseal_cc_binary(NAME <target> SRCS <files...> DEPS <deps...> [INSTALL])
#   An executable; INSTALL puts it in bin/.
#
# layerseal_cc_test(NAME <target> SRCS <files...> DEPS <deps...> LABELS <labels...>
#                   [TIMEOUT <seconds>] [NEEDS <targets built first...>] [DEFINES <defs...>])
#   A gtest executable (gtest_main unless a dependency brings its own main), registered with
#   ctest as <first label>.<target>.

set(LAYERSEAL_LISTED_SOURCES "" CACHE INTERNAL "")

function(layerseal_note_listed)
  set(all ${LAYERSEAL_LISTED_SOURCES})
  foreach(src ${ARGN})
    get_filename_component(abs ${src} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND all ${abs})
  endforeach()
  set(LAYERSEAL_LISTED_SOURCES ${all} CACHE INTERNAL "")
endfunction()

# LAYERSEAL_UNITY (scripts/test and scripts/fuzz turn it on): each library's sources are
# compiled LAYERSEAL_UNITY_BATCH at a time as one translation unit (CMake's unity build), so
# the heavy headers they share (abseil, gRPC, nlohmann/json, OpenSSL) are parsed once per batch
# rather than once per file: the verifier compiles in ~40% of the CPU time. The cost is a rule
# for the code: names in a .cc file's anonymous namespace must be unique within its library
# (two files' `Bad()` or `kUsage` collide). A library that cannot follow it says NO_UNITY.
# Tests are one file per binary and gain nothing; generated protobuf code is left alone.
option(LAYERSEAL_UNITY "Unity-build the libraries (CI's build speed)" OFF)
set(LAYERSEAL_UNITY_BATCH 8 CACHE STRING "Sources per unity translation unit")

function(layerseal_cc_library)
  cmake_parse_arguments(ARG "NO_UNITY" "NAME" "SRCS;DEPS;PRIVATE_DEPS;DEFINES" ${ARGN})
  if(NOT ARG_NAME)
    message(FATAL_ERROR "layerseal_cc_library: NAME is required")
  endif()
  if(ARG_SRCS)
    add_library(${ARG_NAME} STATIC ${ARG_SRCS})
    target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
    target_compile_options(${ARG_NAME} PRIVATE ${LAYERSEAL_WARNINGS})
    target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
    if(ARG_DEFINES)
      target_compile_definitions(${ARG_NAME} PUBLIC ${ARG_DEFINES})
    endif()
    layerseal_note_listed(${ARG_SRCS})
    if(LAYERSEAL_UNITY AND NOT ARG_NO_UNITY)
      set_target_properties(${ARG_NAME} PROPERTIES UNITY_BUILD ON
        UNITY_BUILD_BATCH_SIZE ${LAYERSEAL_UNITY_BATCH})
      # A class in an included .cc that holds an anonymous-namespace type is fine in its own
      # file; gcc warns once the file is #included by the unity source.
      target_compile_options(${ARG_NAME} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
    endif()
  else()
    add_library(${ARG_NAME} INTERFACE)
    target_include_directories(${ARG_NAME} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${ARG_NAME} INTERFACE ${ARG_DEPS})
    if(ARG_DEFINES)
      target_compile_definitions(${ARG_NAME} INTERFACE ${ARG_DEFINES})
    endif()
  endif()
endfunction()

function(layerseal_cc_binary)
  cmake_parse_arguments(ARG "INSTALL" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${LAYERSEAL_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  layerseal_note_listed(${ARG_SRCS})
  if(ARG_INSTALL)
    install(TARGETS ${ARG_NAME} RUNTIME DESTINATION bin)
  endif()
endfunction()

function(layerseal_cc_test)
  cmake_parse_arguments(ARG "NO_GTEST_MAIN" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;NEEDS;DEFINES" ${ARGN})
  if(NOT ARG_LABELS)
    message(FATAL_ERROR "layerseal_cc_test(${ARG_NAME}): LABELS is required")
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${LAYERSEAL_WARNINGS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock)
  if(NOT ARG_NO_GTEST_MAIN)
    target_link_libraries(${ARG_NAME} PRIVATE GTest::gtest_main)
  endif()
  target_compile_definitions(${ARG_NAME} PRIVATE LAYERSEAL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    ${ARG_DEFINES})
  if(ARG_NEEDS)
    add_dependencies(${ARG_NAME} ${ARG_NEEDS})
  endif()
  layerseal_note_listed(${ARG_SRCS})
  list(GET ARG_LABELS 0 first)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  add_test(NAME ${first}.${ARG_NAME} COMMAND ${ARG_NAME})
  set_tests_properties(${first}.${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# layerseal_check_listed(<globbing expressions...>): a configure error naming every .cc file
# that matches and that no layerseal_cc_* call listed (a forgotten test is never silently
# left unbuilt).
function(layerseal_check_listed)
  set(missing "")
  foreach(pattern ${ARGN})
    file(GLOB found CONFIGURE_DEPENDS ${pattern})
    foreach(f ${found})
      list(FIND LAYERSEAL_LISTED_SOURCES ${f} at)
      if(at EQUAL -1)
        list(APPEND missing ${f})
      endif()
    endforeach()
  endforeach()
  if(missing)
    string(REPLACE ";" "\n  " missing "${missing}")
    message(FATAL_ERROR "source files in no layerseal_cc_* target:\n  ${missing}")
  endif()
endfunction()
