# Tests of the seal milter and cppmilter-unseal (examples/seal.cmake; built only with libsodium).
if(NOT TARGET seal)
    return()
endif()

# In-process: the harness plays Postfix; the sealed JSON is opened with libsodium.
add_executable(seal_test ${CMAKE_CURRENT_SOURCE_DIR}/seal_test.cpp)
target_include_directories(seal_test PRIVATE ${PROJECT_SOURCE_DIR}/examples)
target_link_libraries(seal_test PRIVATE cppmilter_test_support cppmilter::mail cppmilter_example_sodium)
cppmilter_add_suites(seal_test seal_milter seal_settings_check seal_format)

# The binaries: start-up checks (exit 78), SIGHUP reload, cppmilter-unseal (tampered, wrong
# key, no header, key generation), all through the real seal server and cppmilter-send.
if(Python3_Interpreter_FOUND)
    add_test(NAME example.seal_tools
        COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/seal_tools.py
                $<TARGET_FILE:seal> $<TARGET_FILE:cppmilter-unseal> $<TARGET_FILE:cppmilter-send>)
    set_tests_properties(example.seal_tools PROPERTIES TIMEOUT 120)
endif()

# An independent implementation: PyNaCl (Debian python3-nacl, under Debian's own python3)
# opens what seal sealed, and seals what cppmilter-unseal opens. 77: python3-nacl is missing.
add_test(NAME example.seal_pynacl
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/seal_pynacl.py
            $<TARGET_FILE:seal> $<TARGET_FILE:cppmilter-unseal> $<TARGET_FILE:cppmilter-send>)
set_tests_properties(example.seal_pynacl PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)

# A real Postfix (private instance, UNIX socket): the delivered message carries the header and
# cppmilter-unseal reads the client address, HELO name and queue id back from it.
if(Python3_Interpreter_FOUND)
    add_test(NAME postfix.seal
        COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/interop/postfix_seal.py
                $<TARGET_FILE:seal> $<TARGET_FILE:cppmilter-unseal>)
    set_tests_properties(postfix.seal PROPERTIES LABELS postfix TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endif()
