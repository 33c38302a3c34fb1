# Tests of the align example (examples/align.hpp, docs/examples/align.md).
if(NOT TARGET align)
    return()
endif()

# The rules, the options and the negotiation, in-process (cm::testing::harness plays Postfix).
add_executable(align_tests ${CMAKE_CURRENT_LIST_DIR}/align_test.cpp)
target_link_libraries(align_tests PRIVATE cppmilter_test_support cppmilter::server cppmilter::mail)
target_include_directories(align_tests PRIVATE ${PROJECT_SOURCE_DIR}/examples)
cppmilter_add_suites(align_tests align_domains align_from align_null_sender align_auth align_operation)

# The command line: what it asks of the MTA (headers, no body, no modification), --help lists
# the milter's options, a bad value is one line and a non-zero exit code.
add_test(NAME example.align_negotiation
    COMMAND ${CMAKE_COMMAND}
        "-DREGEX=^actions:  0\nprotocol: [A-Z_|]*NOBODY[A-Z_|]*NR_HDR[A-Z_|]*\nmacros mail: {auth_authen}\nmacros end_of_message: i\n$"
        -P ${PROJECT_SOURCE_DIR}/cmake/expect_output.cmake -- $<TARGET_FILE:align> --print-negotiation)
add_test(NAME example.align_help
    COMMAND ${CMAKE_COMMAND}
        "-DREGEX=milter options:\n  --mode relaxed\\|strict .*  --null-sender helo\\|pass .*  --auth ignore\\|exempt\\|only .*  --dry-run "
        -P ${PROJECT_SOURCE_DIR}/cmake/expect_output.cmake -- $<TARGET_FILE:align> --help)
# A name that is not one of an option's choices is a usage error: one line, exit code 64 (EX_USAGE).
add_test(NAME example.align_bad_mode
    COMMAND sh -c [=[out=$("$0" --mode bogus 2>&1); status=$?; printf '%s\n' "$out"
        test "$status" -eq 64 && test "$out" = "align: --mode: 'bogus' is not one of relaxed|strict"]=]
        $<TARGET_FILE:align>)

# Against a real Postfix (a private instance; needs root and Postfix, else skipped).
if(Python3_Interpreter_FOUND)
    add_test(NAME postfix.align
        COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/interop/postfix_align.py $<TARGET_FILE:align>)
    set_tests_properties(postfix.align PROPERTIES LABELS postfix TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endif()
