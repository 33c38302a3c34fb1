# Compiles one compile-fail test source with -fsyntax-only and checks the outcome.
#
#   cmake -DCXX=<compiler> -DSOURCE=<file.cpp> -DMODE=fail|fixed
#         [-DFLAGS=<flag>|<flag>...] [-DINCLUDES=<dir>|<dir>...] -P check_compile.cmake
#
# MODE=fail:  compiled as is, the source must not compile, and the first error the compiler
#             reports must match the regex of the file's first line, `// expect: <regex>`
#             (a CMake regex; the diagnostic the user sees first is the one that must be clear).
# MODE=fixed: compiled with -DCPPMILTER_FIXED, the source must compile.
# Lists are separated by `|` (a `;` would split the test's command line).

cmake_minimum_required(VERSION 3.25)

foreach(var CXX SOURCE MODE)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "check_compile.cmake: -D${var}=... is required")
    endif()
endforeach()

string(REPLACE "|" ";" flags "${FLAGS}")
list(FILTER flags EXCLUDE REGEX "^$") # flags switched off by a generator expression
string(REPLACE "|" ";" includes "${INCLUDES}")
list(FILTER includes EXCLUDE REGEX "^$")
list(TRANSFORM includes PREPEND "-I")

set(command ${CXX} -std=c++20 -fsyntax-only ${flags} ${includes})
if(MODE STREQUAL "fixed")
    list(APPEND command -DCPPMILTER_FIXED)
elseif(NOT MODE STREQUAL "fail")
    message(FATAL_ERROR "check_compile.cmake: MODE must be fail or fixed, not '${MODE}'")
endif()
list(APPEND command ${SOURCE})

execute_process(COMMAND ${command} RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
list(JOIN command " " command_line)

if(MODE STREQUAL "fixed")
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "The fixed version does not compile:\n${command_line}\n\n${output}")
    endif()
    message(STATUS "compiles, as it should")
    return()
endif()

file(STRINGS ${SOURCE} first_line LIMIT_COUNT 1)
if(NOT first_line MATCHES "^// expect: (.+)$")
    message(FATAL_ERROR "${SOURCE}: the first line must be `// expect: <regex>`")
endif()
set(expected "${CMAKE_MATCH_1}")

if(status EQUAL 0)
    message(FATAL_ERROR "It compiles, but must not:\n${command_line}\n\n${output}")
endif()
string(FIND "${output}" "error:" at)
if(at EQUAL -1)
    message(FATAL_ERROR "The compiler failed (${status}) without an error message:\n${command_line}\n\n${output}")
endif()
string(SUBSTRING "${output}" 0 ${at} before) # from the start of that line: file:line:col
string(FIND "${before}" "\n" line_start REVERSE)
math(EXPR line_start "${line_start} + 1")
string(SUBSTRING "${output}" ${line_start} -1 first_error)
string(FIND "${first_error}" "\n" end)
string(SUBSTRING "${first_error}" 0 ${end} first_error)
if(NOT first_error MATCHES "${expected}")
    message(FATAL_ERROR "The first error does not match `${expected}`:\n  ${first_error}\n\n"
                        "${command_line}\n\n${output}")
endif()
message(STATUS "fails as expected: ${first_error}")
