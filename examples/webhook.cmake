# webhook: an HTTP(S) policy endpoint decides (examples/webhook.hpp, docs/examples/webhook.md),
# and the HTTP client it uses, cppmilter::http (include/cppmilter/contrib/http.hpp). Needs
# OpenSSL 3 (Debian libssl-dev) and c-ares (libc-ares-dev); without them both are skipped.
# Its tests: tests/examples/webhook.cmake.
#
# Static milters link OpenSSL's .a files (the binary depends on nothing on the host); other
# builds (sanitizers) take the shared ones, since Debian's .a files are not PIC.
if(CPPMILTER_STATIC AND NOT CPPMILTER_SANITIZE)
    set(cppmilter_http_static ON)
else()
    set(cppmilter_http_static OFF)
endif()
set(OPENSSL_USE_STATIC_LIBS ${cppmilter_http_static})
find_package(OpenSSL 3 COMPONENTS SSL Crypto)
if(NOT OpenSSL_FOUND OR NOT TARGET OpenSSL::SSL)
    message(STATUS "cppmilter: OpenSSL not found (apt-get install libssl-dev): no cppmilter::http, no webhook example")
    return()
endif()

# Host names in URLs are looked up with cppmilter::dns (c-ares; examples/dkim.cmake).
if(NOT TARGET cppmilter_dns)
    message(STATUS "cppmilter: no cppmilter::dns (apt-get install libc-ares-dev): no cppmilter::http, no webhook example")
    return()
endif()

# ---- cppmilter::http: Beast and OpenSSL on the server's executors
add_library(cppmilter_http ${PROJECT_SOURCE_DIR}/src/contrib/http.cpp)
add_library(cppmilter::http ALIAS cppmilter_http)
target_link_libraries(cppmilter_http
    PUBLIC cppmilter::server cppmilter::dns OpenSSL::SSL OpenSSL::Crypto
    PRIVATE cppmilter_warnings)
set_target_properties(cppmilter_http PROPERTIES CXX_EXTENSIONS OFF EXPORT_NAME http)

# ---- the milter
add_executable(webhook ${CMAKE_CURRENT_LIST_DIR}/webhook.cpp)
target_link_libraries(webhook PRIVATE cppmilter::http cppmilter::mail cppmilter_warnings)
cppmilter_link_static(webhook)
