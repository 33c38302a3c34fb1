# Tests of cppmilter::redis and of the ratelimit example (examples/ratelimit.hpp,
# docs/examples/ratelimit.md). They start a private redis-server (Debian redis-server) on
# 127.0.0.1; without it they are not registered.
if(NOT TARGET ratelimit)
    return()
endif()
find_program(CPPMILTER_REDIS_SERVER redis-server PATHS /usr/bin /usr/sbin)
find_program(CPPMILTER_HAPROXY haproxy PATHS /usr/sbin /usr/bin)
if(NOT CPPMILTER_REDIS_SERVER)
    message(STATUS "cppmilter: redis-server not found (apt-get install redis-server): no redis and ratelimit tests")
    return()
endif()

# The codec byte by byte, the client against redis-server and against a misbehaving fake server.
add_executable(redis_tests ${CMAKE_CURRENT_LIST_DIR}/redis_test.cpp)
target_link_libraries(redis_tests PRIVATE cppmilter_test_support cppmilter::redis)
target_compile_definitions(redis_tests PRIVATE CPPMILTER_REDIS_SERVER="${CPPMILTER_REDIS_SERVER}")
cppmilter_add_suites(redis_tests redis_codec redis_live redis_faults)

# The milter in-process (the harness plays Postfix) against redis-server.
add_executable(ratelimit_tests ${CMAKE_CURRENT_LIST_DIR}/ratelimit_test.cpp)
target_link_libraries(ratelimit_tests PRIVATE cppmilter_test_support cppmilter::server cppmilter::mail cppmilter::redis)
target_include_directories(ratelimit_tests PRIVATE ${PROJECT_SOURCE_DIR}/examples)
target_compile_definitions(ratelimit_tests PRIVATE CPPMILTER_REDIS_SERVER="${CPPMILTER_REDIS_SERVER}")
cppmilter_add_suites(ratelimit_tests ratelimit_settings_check ratelimit_windows ratelimit_keys ratelimit_redis_down)

# The command line: what it asks of the MTA, a bad value is one line and exit 64 or 78.
add_test(NAME example.ratelimit_negotiation
    COMMAND ${CMAKE_COMMAND}
        "-DREGEX=^actions:  0\nprotocol: [A-Z_|]*NOBODY[A-Z_|]*\nmacros mail: {auth_authen}\n$"
        -P ${PROJECT_SOURCE_DIR}/cmake/expect_output.cmake -- $<TARGET_FILE:ratelimit> --print-negotiation)
add_test(NAME example.ratelimit_bad_limit
    COMMAND sh -c [=[out=$("$0" --limit 10/week 2>&1); status=$?; printf '%s\n' "$out"
        test "$status" -eq 78 &&
        test "$out" = "ratelimit: --limit: '10/week' has a period without a unit (N/PERIOD, e.g. 100/1h; PERIOD in s, m, h or d)"]=]
        $<TARGET_FILE:ratelimit>)
add_test(NAME example.ratelimit_bad_key
    COMMAND sh -c [=[out=$("$0" --limit 1/h --key bogus 2>&1); status=$?; printf '%s\n' "$out"
        test "$status" -eq 64 && test "$out" = "ratelimit: --key: 'bogus' is not one of auth|sender|sender-domain|client"]=]
        $<TARGET_FILE:ratelimit>)

# Two instances behind HAProxy sharing one Redis (docs/deploy/scale-out.md).
if(CPPMILTER_HAPROXY AND TARGET cppmilter-send)
    add_test(NAME scaleout.ratelimit_haproxy
        COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/scaleout_test.py $<TARGET_FILE:ratelimit>
                $<TARGET_FILE:cppmilter-send> ${CPPMILTER_REDIS_SERVER} ${CPPMILTER_HAPROXY})
    set_tests_properties(scaleout.ratelimit_haproxy PROPERTIES LABELS scaleout TIMEOUT 180 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endif()

# Against a real Postfix (a private instance; needs root and Postfix, else skipped).
add_test(NAME postfix.ratelimit
    COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/interop/postfix_ratelimit.py $<TARGET_FILE:ratelimit>
            ${CPPMILTER_REDIS_SERVER})
set_tests_properties(postfix.ratelimit PROPERTIES LABELS postfix TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
