# align: DMARC identifier alignment of the From header with the envelope sender
# (examples/align.hpp, docs/examples/align.md). Its tests: tests/examples/align.cmake.
add_executable(align ${CMAKE_CURRENT_LIST_DIR}/align.cpp)
target_link_libraries(align PRIVATE cppmilter::server cppmilter::mail cppmilter_warnings)
if(CPPMILTER_STATIC AND NOT CPPMILTER_SANITIZE)
    target_link_options(align PRIVATE -static)
endif()
if(CPPMILTER_BUILD_TESTS AND CPPMILTER_STATIC AND NOT CPPMILTER_SANITIZE)
    find_program(LDD ldd)
    if(LDD)
        # ldd fails on a static binary and says so: that message is the test.
        add_test(NAME example.align_is_static COMMAND ${LDD} $<TARGET_FILE:align>)
        set_tests_properties(example.align_is_static PROPERTIES PASS_REGULAR_EXPRESSION "not a dynamic executable")
    endif()
endif()
