# The dkim example (docs/examples/dkim.md) and the asynchronous DNS client it uses,
# cppmilter::dns (include/cppmilter/contrib/dns.hpp). Needs Debian libopendkim-dev,
# libc-ares-dev, libssl-dev, libdb5.3-dev, libbsd-dev; without them both are skipped.
#
# Static milters link the libraries' .a files (the binary depends on nothing on the host);
# other builds (sanitizers) take the shared ones, since Debian's .a files are not PIC.
if(CPPMILTER_STATIC AND NOT CPPMILTER_SANITIZE)
    set(cppmilter_dkim_static ON)
    set(cppmilter_dkim_suffixes .a)
else()
    set(cppmilter_dkim_static OFF)
    set(cppmilter_dkim_suffixes .so .a)
endif()
set(cppmilter_dkim_saved_suffixes ${CMAKE_FIND_LIBRARY_SUFFIXES})
set(CMAKE_FIND_LIBRARY_SUFFIXES ${cppmilter_dkim_suffixes})
find_path(CPPMILTER_CARES_INCLUDE_DIR ares.h)
find_library(CPPMILTER_CARES_LIBRARY NAMES cares)
find_path(CPPMILTER_OPENDKIM_INCLUDE_DIR opendkim/dkim.h)
find_library(CPPMILTER_OPENDKIM_LIBRARY NAMES opendkim)
# libopendkim's own dependencies: its key cache (Berkeley DB) and strlcpy (libbsd, which
# needs libmd when static); OpenSSL for the cryptography.
find_library(CPPMILTER_BDB_LIBRARY NAMES db)
find_library(CPPMILTER_BSD_LIBRARY NAMES bsd)
find_library(CPPMILTER_MD_LIBRARY NAMES md)
set(CMAKE_FIND_LIBRARY_SUFFIXES ${cppmilter_dkim_saved_suffixes})
set(OPENSSL_USE_STATIC_LIBS ${cppmilter_dkim_static})
find_package(OpenSSL 3 COMPONENTS Crypto)

if(NOT (CPPMILTER_CARES_INCLUDE_DIR AND CPPMILTER_CARES_LIBRARY))
    message(STATUS "cppmilter: c-ares not found (apt-get install libc-ares-dev): no cppmilter::dns, no dkim example")
    return()
endif()

# ---- cppmilter::dns: c-ares on the server's executors
add_library(cppmilter_dns ${PROJECT_SOURCE_DIR}/src/contrib/dns.cpp)
add_library(cppmilter::dns ALIAS cppmilter_dns)
target_include_directories(cppmilter_dns PRIVATE ${CPPMILTER_CARES_INCLUDE_DIR})
target_link_libraries(cppmilter_dns
    PUBLIC cppmilter::server ${CPPMILTER_CARES_LIBRARY}
    PRIVATE cppmilter_warnings)
set_target_properties(cppmilter_dns PROPERTIES CXX_EXTENSIONS OFF EXPORT_NAME dns)

if(NOT (CPPMILTER_OPENDKIM_INCLUDE_DIR AND CPPMILTER_OPENDKIM_LIBRARY AND CPPMILTER_BDB_LIBRARY
        AND CPPMILTER_BSD_LIBRARY AND OpenSSL_FOUND))
    message(STATUS "cppmilter: libopendkim, OpenSSL, Berkeley DB or libbsd not found "
                   "(apt-get install libopendkim-dev libssl-dev libdb5.3-dev libbsd-dev): no dkim example")
    return()
endif()

# ---- the milter: its engine is a library so that the harness tests link the same code
add_library(dkim_engine STATIC dkim_engine.cpp dkim_key_cache.cpp)
# libopendkim decodes the key text for every signature: its call goes to a cache of decoded
# keys instead (dkim_key_cache.cpp; takes effect where libopendkim is linked statically).
target_link_options(dkim_engine INTERFACE "LINKER:--wrap=PEM_read_bio_PrivateKey")
# For the tests: whether libopendkim's own calls go through it (a static libopendkim).
target_compile_definitions(dkim_engine INTERFACE $<$<BOOL:${cppmilter_dkim_static}>:CPPMILTER_DKIM_KEY_CACHE>)
target_include_directories(dkim_engine PRIVATE ${CPPMILTER_OPENDKIM_INCLUDE_DIR})
target_link_libraries(dkim_engine
    PUBLIC cppmilter::server cppmilter::mail cppmilter::dns
    PRIVATE cppmilter_warnings ${CPPMILTER_OPENDKIM_LIBRARY} OpenSSL::Crypto ${CPPMILTER_BDB_LIBRARY}
            ${CPPMILTER_BSD_LIBRARY} $<$<BOOL:${CPPMILTER_MD_LIBRARY}>:${CPPMILTER_MD_LIBRARY}> resolv)
set_target_properties(dkim_engine PROPERTIES CXX_EXTENSIONS OFF)

add_executable(dkim dkim.cpp)
target_link_libraries(dkim PRIVATE dkim_engine cppmilter_warnings)
cppmilter_link_static(dkim)
