# Tests of the webhook example and of cppmilter::http (examples/webhook.cmake; built only with
# OpenSSL). The policy endpoint is tests/examples/webhook_server.py (Python standard library
# and the openssl command), its host names answered by tests/examples/fake_dns.py, both started
# by the tests on 127.0.0.1.
if(NOT TARGET webhook OR NOT Python3_Interpreter_FOUND)
    return()
endif()

# In-process: the HTTP client, and the milter through the harness (it plays Postfix).
add_executable(webhook_tests ${CMAKE_CURRENT_LIST_DIR}/http_test.cpp ${CMAKE_CURRENT_LIST_DIR}/webhook_test.cpp)
target_link_libraries(webhook_tests PRIVATE cppmilter_test_support cppmilter::http cppmilter::mail)
target_include_directories(webhook_tests PRIVATE ${PROJECT_SOURCE_DIR}/examples)
target_compile_definitions(webhook_tests PRIVATE CPPMILTER_PYTHON="${Python3_EXECUTABLE}"
    CPPMILTER_WEBHOOK_SERVER="${CMAKE_CURRENT_LIST_DIR}/webhook_server.py"
    CPPMILTER_FAKE_DNS="${CMAKE_CURRENT_LIST_DIR}/fake_dns.py")
cppmilter_add_suites(webhook_tests http_url http_client webhook_verdicts webhook_failures webhook_answers)

# The command line: what it asks of the MTA, --help, a bad value is one line and 78.
add_test(NAME example.webhook_negotiation
    COMMAND ${CMAKE_COMMAND}
        "-DREGEX=^actions:  ADDHDRS\nprotocol: [A-Z_|]*NR_HDR[A-Z_|]*\n"
        -P ${PROJECT_SOURCE_DIR}/cmake/expect_output.cmake -- $<TARGET_FILE:webhook> --print-negotiation)
add_test(NAME example.webhook_help
    COMMAND ${CMAKE_COMMAND}
        "-DREGEX=milter options:\n  --url URL .*  --stage mail\\|rcpt\\|eom .*  --on-error accept\\|tempfail\\|reject .*  --auth-header-file FILE"
        -P ${PROJECT_SOURCE_DIR}/cmake/expect_output.cmake -- $<TARGET_FILE:webhook> --help)
add_test(NAME example.webhook_bad_url
    COMMAND sh -c [=[out=$("$0" --url ftp://x 2>&1); status=$?; printf '%s\n' "$out"
        test "$status" -eq 78 && test "$out" = "webhook: --url: 'ftp://x': not an http:// or https:// URL"]=]
        $<TARGET_FILE:webhook>)

add_test(NAME example.webhook_bad_dns_server
    COMMAND sh -c [=[out=$("$0" --url http://policy.example.test/ --dns-server 999.1.1.1 2>&1); status=$?; printf '%s\n' "$out"
        test "$status" -eq 78 && case "$out" in "webhook: --dns-server: '999.1.1.1': "?*) true;; *) false;; esac]=]
        $<TARGET_FILE:webhook>)
set_tests_properties(example.webhook_bad_dns_server PROPERTIES TIMEOUT 30)

# Against a real Postfix (a private instance; needs root and Postfix, else skipped).
add_test(NAME postfix.webhook
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/interop/postfix_webhook.py $<TARGET_FILE:webhook>
            ${CMAKE_CURRENT_LIST_DIR}/webhook_server.py)
set_tests_properties(postfix.webhook PROPERTIES LABELS postfix TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
