# Tests of the dkim example (examples/dkim.hpp, docs/examples/dkim.md) and of cppmilter::dns.
if(NOT TARGET cppmilter_dns)
    return()
endif()

# The fake DNS server the tests start (Python standard library only).
set(cppmilter_dkim_test_defs CPPMILTER_PYTHON="${Python3_EXECUTABLE}"
    CPPMILTER_FAKE_DNS="${CMAKE_CURRENT_LIST_DIR}/fake_dns.py"
    CPPMILTER_DKIM_DATA="${CMAKE_CURRENT_LIST_DIR}/data/dkim")

if(Python3_Interpreter_FOUND)
    add_executable(dns_tests ${CMAKE_CURRENT_LIST_DIR}/dns_test.cpp)
    target_link_libraries(dns_tests PRIVATE cppmilter_test_support cppmilter::dns)
    target_compile_definitions(dns_tests PRIVATE ${cppmilter_dkim_test_defs})
    cppmilter_add_suites(dns_tests dns_txt dns_addresses)
endif()

if(NOT TARGET dkim OR NOT Python3_Interpreter_FOUND)
    return()
endif()

# Sign, verify, failures, choices and settings, in-process (the harness plays Postfix).
add_executable(dkim_tests ${CMAKE_CURRENT_LIST_DIR}/dkim_test.cpp)
target_link_libraries(dkim_tests PRIVATE cppmilter_test_support dkim_engine) # OpenSSL comes with dkim_engine
target_include_directories(dkim_tests PRIVATE ${PROJECT_SOURCE_DIR}/examples)
target_compile_definitions(dkim_tests PRIVATE ${cppmilter_dkim_test_defs})
cppmilter_add_suites(dkim_tests dkim_round_trip dkim_failures dkim_signing_choices dkim_settings_check)

# The command line: a missing key file is one line and exit code 78 (EX_CONFIG).
add_test(NAME example.dkim_missing_key
    COMMAND sh -c [=[out=$("$0" --mode sign --domain example.test --selector s --key /nonexistent.pem 2>&1); status=$?
        printf '%s\n' "$out"; test "$status" -eq 78 &&
        test "$out" = "dkim: --key: cannot read key file /nonexistent.pem: No such file or directory"]=]
        $<TARGET_FILE:dkim>)
add_test(NAME example.dkim_negotiation
    COMMAND ${CMAKE_COMMAND}
        "-DREGEX=^actions:  ADDHDRS\\|CHGHDRS\nprotocol: .*\nmacros mail: {auth_authen}\nmacros end_of_message: i\n$"
        -P ${PROJECT_SOURCE_DIR}/cmake/expect_output.cmake -- $<TARGET_FILE:dkim> --mode verify --print-negotiation)

# An independent implementation, dkimpy (Debian python3-dkim), checks both directions through
# cppmilter-send; then through a real Postfix (needs root and Postfix, else skipped).
if(TARGET cppmilter-send)
    add_test(NAME example.dkim_dkimpy
        COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/dkimpy_check.py $<TARGET_FILE:dkim>
                $<TARGET_FILE:cppmilter-send> ${CMAKE_CURRENT_LIST_DIR}/data/dkim)
    set_tests_properties(example.dkim_dkimpy PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endif()
add_test(NAME postfix.dkim
    COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/interop/postfix_dkim.py $<TARGET_FILE:dkim>
            ${CMAKE_CURRENT_LIST_DIR}/data/dkim)
set_tests_properties(postfix.dkim PROPERTIES LABELS postfix TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)

# Under LeakSanitizer, libopendkim's own leak of each signature's key is suppressed (and only
# that: tests/examples/data/dkim/lsan.supp). The leak is allocated inside libcrypto, which has
# no frame pointers: only the slow unwinder sees dkim_privkey_load on its stack.
if(CPPMILTER_SANITIZE)
    set_property(TEST dkim_tests.dkim_round_trip dkim_tests.dkim_failures dkim_tests.dkim_signing_choices
                      dkim_tests.dkim_settings_check postfix.dkim example.dkim_dkimpy
                 APPEND PROPERTY ENVIRONMENT
                 "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/data/dkim/lsan.supp:print_suppressions=0"
                 "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0")
endif()
