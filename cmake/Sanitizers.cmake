# Hardening builds (issue 12 items 3 and 4). Each goes into a build dir of its own; the default build is
# unaffected.
#
#   -DCLAIMCHECK_SANITIZE=address,undefined   gcc or clang: every target with ASan + UBSan (make test-asan)
#   -DCLAIMCHECK_SANITIZE=thread              gcc or clang: every target with ThreadSanitizer (make test-tsan)
#   -DCLAIMCHECK_FUZZ=ON                      clang only: the libraries instrumented for libFuzzer with ASan +
#                                             UBSan, and the tests/fuzz/*_fuzz targets (make fuzz, scripts/fuzz)
#
# UBSan findings abort (-fno-sanitize-recover), so a test or a fuzz run fails on the first one.
set(CLAIMCHECK_SANITIZE "" CACHE STRING "Sanitizers for every target: address,undefined | thread | empty (none)")
option(CLAIMCHECK_FUZZ "Build the libFuzzer targets in tests/fuzz (clang; instruments the libraries)" OFF)

if(CLAIMCHECK_FUZZ AND CLAIMCHECK_SANITIZE)
  message(FATAL_ERROR "CLAIMCHECK_FUZZ already implies address,undefined: leave CLAIMCHECK_SANITIZE empty")
endif()

if(CLAIMCHECK_SANITIZE)
  set(_cc_san -fsanitize=${CLAIMCHECK_SANITIZE} -fno-omit-frame-pointer)
  if(CLAIMCHECK_SANITIZE MATCHES "undefined")
    list(APPEND _cc_san -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${_cc_san})
  add_link_options(-fsanitize=${CLAIMCHECK_SANITIZE})
endif()

if(CLAIMCHECK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CLAIMCHECK_FUZZ needs clang (libFuzzer): configure with "
                        "-DCMAKE_CXX_COMPILER=clang++-14 (packages clang-14, libclang-rt-14-dev)")
  endif()
  # fuzzer-no-link: coverage instrumentation in every object; only the fuzz targets link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
