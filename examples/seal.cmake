# seal: connection and account information sealed to a public key into a header, and
# cppmilter-unseal, the operator's tool that opens it (tools/cppmilter-unseal.cpp; built here so
# that both come and go with libsodium). docs/examples/seal.md.

# libsodium (Debian libsodium-dev), its static library first: the binaries stay self-contained.
find_path(CPPMILTER_SODIUM_INCLUDE_DIR sodium.h)
find_library(CPPMILTER_SODIUM_LIBRARY NAMES libsodium.a sodium)
if(NOT CPPMILTER_SODIUM_INCLUDE_DIR OR NOT CPPMILTER_SODIUM_LIBRARY)
    message(STATUS "seal: libsodium not found (apt-get install libsodium-dev): seal and cppmilter-unseal are not built")
    return()
endif()
# A plain interface target (not IMPORTED): visible from tests/examples/ too.
add_library(cppmilter_example_sodium INTERFACE)
target_include_directories(cppmilter_example_sodium INTERFACE ${CPPMILTER_SODIUM_INCLUDE_DIR})
target_link_libraries(cppmilter_example_sodium INTERFACE ${CPPMILTER_SODIUM_LIBRARY})

add_executable(seal seal.cpp)
target_link_libraries(seal PRIVATE cppmilter::server cppmilter::mail cppmilter_example_sodium cppmilter_warnings)

add_executable(cppmilter-unseal ${PROJECT_SOURCE_DIR}/tools/cppmilter-unseal.cpp)
target_include_directories(cppmilter-unseal PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(cppmilter-unseal PRIVATE cppmilter::mail Boost::program_options cppmilter_example_sodium
    cppmilter_warnings)
install(TARGETS cppmilter-unseal)

foreach(name seal cppmilter-unseal)
    cppmilter_link_static(${name})
endforeach()
