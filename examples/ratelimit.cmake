# The ratelimit example (docs/examples/ratelimit.md) and the asynchronous Redis client it uses,
# cppmilter::redis (include/cppmilter/contrib/redis.hpp: RESP2 on Boost.Asio, no other library).

# ---- cppmilter::redis
add_library(cppmilter_redis ${PROJECT_SOURCE_DIR}/src/contrib/redis.cpp)
add_library(cppmilter::redis ALIAS cppmilter_redis)
target_link_libraries(cppmilter_redis PUBLIC cppmilter::server PRIVATE cppmilter_warnings)
set_target_properties(cppmilter_redis PROPERTIES CXX_EXTENSIONS OFF EXPORT_NAME redis)

# ---- the milter
add_executable(ratelimit ${CMAKE_CURRENT_LIST_DIR}/ratelimit.cpp)
target_link_libraries(ratelimit PRIVATE cppmilter::server cppmilter::mail cppmilter::redis cppmilter_warnings)
cppmilter_link_static(ratelimit)

# ---- its benchmark (bench/ratelimit/run.sh): ratelimit in front of the stamp milter
if(CPPMILTER_BUILD_BENCH)
    add_executable(ratelimit_stamp ${PROJECT_SOURCE_DIR}/bench/ratelimit/ratelimit_stamp.cpp)
    target_link_libraries(ratelimit_stamp PRIVATE cppmilter::server cppmilter::mail cppmilter::redis cppmilter_warnings)
    target_include_directories(ratelimit_stamp PRIVATE ${CMAKE_CURRENT_LIST_DIR})
    if(CPPMILTER_STATIC AND NOT CPPMILTER_SANITIZE)
        target_link_options(ratelimit_stamp PRIVATE -static)
    endif()
endif()
