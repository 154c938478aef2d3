# Project-wide compile flags and helpers: one library per module, one test binary per module.

set(EDDY_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers
    -Werror=unused-result)
set(EDDY_SANITIZER_FLAGS)
if(EDDY_SANITIZE)
  set(EDDY_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
      -fno-sanitize-recover=undefined)
  add_compile_options(${EDDY_SANITIZER_FLAGS})
  add_link_options(${EDDY_SANITIZER_FLAGS})
endif()

# eddy_add_module(<name> SOURCES ... DEPS ...) builds library eddy_<name> from src/<name>.
function(eddy_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(eddy_${name} STATIC ${ARG_SOURCES})
  target_compile_options(eddy_${name} PRIVATE ${EDDY_WARNINGS})
  target_include_directories(eddy_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src
                                                 ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(eddy_${name} PUBLIC ${ARG_DEPS})
  target_precompile_headers(eddy_${name} PRIVATE <string> <vector> <memory> <optional>
                            <string_view> <cstdint> <fmt/format.h>)
endfunction()

# eddy_add_test(<name> SOURCES ... DEPS ... [LABELS ...]) builds one GoogleTest binary and
# registers it with ctest.
function(eddy_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${EDDY_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
