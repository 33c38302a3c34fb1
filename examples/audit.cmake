# audit: one JSON line per message transaction (examples/audit.hpp, docs/examples/audit.md).
# Its tests: tests/examples/audit.cmake.
add_executable(audit ${CMAKE_CURRENT_LIST_DIR}/audit.cpp)
target_link_libraries(audit PRIVATE cppmilter::server cppmilter::mail cppmilter_warnings)
cppmilter_link_static(audit)

# bench/audit/run.sh: audit with the stamp milter behind it, so that loadgen (which counts a
# message only when X-Bench: 1 is added) can drive it.
if(CPPMILTER_BUILD_BENCH)
    add_executable(audit_stamped ${PROJECT_SOURCE_DIR}/bench/audit/audit_stamped.cpp)
    target_include_directories(audit_stamped PRIVATE ${CMAKE_CURRENT_LIST_DIR})
    target_link_libraries(audit_stamped PRIVATE cppmilter::server cppmilter::mail cppmilter_warnings)
    if(CPPMILTER_STATIC AND NOT CPPMILTER_SANITIZE)
        target_link_options(audit_stamped PRIVATE -static)
    endif()
endif()
