// Test cases that need something the host may lack (::1 where IPv6 is off, as in some
// containers) skip without it: a Boost.Test precondition that says why. CTest cannot see such a
// skip (the process exits 0), so with CPPMILTER_NO_SKIPS=1 — set by CI, whose machine has every
// prerequisite — the case runs anyway and fails where it needs what is missing. (Whole test
// programs skip with exit code 77, SKIP_RETURN_CODE, which CTest reports; .ci/run fails on those.)
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string_view>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace cppmilter::test {

/// CPPMILTER_NO_SKIPS=1: no test case may skip.
inline bool skips_forbidden() {
    const char* value = std::getenv("CPPMILTER_NO_SKIPS");
    return value != nullptr && std::string_view{value} == "1";
}

/// Precondition (`*boost::unit_test::precondition(ipv6_loopback)`): ::1 can be bound here.
inline boost::test_tools::assertion_result ipv6_loopback(boost::unit_test::test_unit_id) {
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 loopback{};
    loopback.sin6_family = AF_INET6;
    loopback.sin6_addr = in6addr_loopback;
    const bool bound = fd >= 0 && ::bind(fd, reinterpret_cast<const sockaddr*>(&loopback), sizeof loopback) == 0;
    if (fd >= 0) ::close(fd);
    if (bound || skips_forbidden()) return true;
    boost::test_tools::assertion_result skip{false};
    skip.message() << "::1 cannot be bound here (IPv6 off); with CPPMILTER_NO_SKIPS=1 this case fails instead";
    return skip;
}

} // namespace cppmilter::test
