# Tests of the audit example (examples/audit.hpp, docs/examples/audit.md).
if(NOT TARGET audit)
    return()
endif()

# Every field, aborts, several messages per connection, 8-bit and encoded headers, in-process
# (cm::testing::harness plays Postfix).
add_executable(audit_tests ${CMAKE_CURRENT_LIST_DIR}/audit_test.cpp)
target_link_libraries(audit_tests PRIVATE cppmilter_test_support cppmilter::server cppmilter::mail)
target_include_directories(audit_tests PRIVATE ${PROJECT_SOURCE_DIR}/examples)
cppmilter_add_suites(audit_tests audit_lines audit_settings_check)

# It only observes: the MTA is told not to wait for any stage (NR_* everywhere), no action.
add_test(NAME example.audit_negotiation
    COMMAND ${CMAKE_COMMAND}
        "-DREGEX=^actions:  0\nprotocol: NR_HDR\\|NOUNKNOWN\\|NR_CONN\\|NR_HELO\\|NR_MAIL\\|NR_RCPT\\|NR_DATA\\|NR_UNKN\\|NR_EOH\\|NR_BODY\n"
        -P ${PROJECT_SOURCE_DIR}/cmake/expect_output.cmake -- $<TARGET_FILE:audit> --print-negotiation)
add_test(NAME example.audit_bad_output
    COMMAND sh -c [=[out=$("$0" --output /nonexistent/dir/a.json 2>&1); status=$?; printf '%s\n' "$out"
        test "$status" -eq 78 && test "$out" = "audit: --output /nonexistent/dir/a.json: cannot be opened: No such file or directory"]=]
        $<TARGET_FILE:audit>)

# The real server: logrotate moves the file away, SIGHUP reopens it; the line of the message
# sent before goes to the old file, the one after to the new file.
if(TARGET cppmilter-send)
    add_test(NAME example.audit_reopen_on_sighup
        COMMAND sh -c [=[
            audit=$0 send=$1 dir=$(mktemp -d) pid=
            trap 'test -n "$pid" && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
            "$audit" --listen inet:127.0.0.1:0 --output "$dir/a.json" --log-level info 2>"$dir/log" & pid=$!
            spec=
            for i in $(seq 100); do
                spec=$(sed -n 's/.*listening on \(inet:[0-9.]*:[0-9]*\).*/\1/p' "$dir/log"); test -n "$spec" && break; sleep 0.1
            done
            test -n "$spec" || { echo "audit did not start:"; cat "$dir/log"; exit 1; }
            send() { printf 'From: a@example.org\r\nSubject: %s\r\n\r\nbody\r\n' "$1" > "$dir/m"
                     "$send" --milter "$spec" --from a@example.org --to b@example.net "$dir/m" >/dev/null; }
            send before || { echo "cppmilter-send failed"; exit 1; }
            mv "$dir/a.json" "$dir/a.json.1"
            kill -HUP "$pid"
            for i in $(seq 100); do grep -q reloaded "$dir/log" && break; sleep 0.1; done
            send after || { echo "cppmilter-send failed"; exit 1; }
            kill -TERM "$pid"; wait "$pid"; status=$?; pid=
            cat "$dir/log"; echo "--- rotated:"; cat "$dir/a.json.1"; echo "--- new:"; cat "$dir/a.json"
            test "$status" -eq 0 &&
            test "$(wc -l < "$dir/a.json.1")" -eq 1 && grep -q '"Subject":\["before"\]' "$dir/a.json.1" &&
            test "$(wc -l < "$dir/a.json")" -eq 1 && grep -q '"Subject":\["after"\]' "$dir/a.json"
            ]=] $<TARGET_FILE:audit> $<TARGET_FILE:cppmilter-send>)
    set_tests_properties(example.audit_reopen_on_sighup PROPERTIES TIMEOUT 60)
endif()

# Against a real Postfix (a private instance; needs root and Postfix, else skipped).
if(Python3_Interpreter_FOUND)
    add_test(NAME postfix.audit
        COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/interop/postfix_audit.py $<TARGET_FILE:audit>)
    set_tests_properties(postfix.audit PROPERTIES LABELS postfix TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endif()
