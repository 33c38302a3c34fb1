# align: DMARC identifier alignment of the From header with the envelope sender
# (examples/align.hpp, docs/examples/align.md). Its tests: tests/examples/align.cmake.
add_executable(align ${CMAKE_CURRENT_LIST_DIR}/align.cpp)
target_link_libraries(align PRIVATE cppmilter::server cppmilter::mail cppmilter_warnings)
cppmilter_link_static(align)
