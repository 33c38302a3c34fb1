// The smallest milter binary a user writes.
#include <cppmilter/asio/server.hpp>
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto milter = cm::milter(cm::on_helo([](const cm::helo_info& h) -> cm::verdict {
    return h.name.empty() ? cm::verdict{cm::reject} : cm::verdict{cm::next};
}));

int main(int argc, char** argv) { return cm::run(milter, argc, argv); }
