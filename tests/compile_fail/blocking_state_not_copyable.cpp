// expect: a blocking hook works on a copy of its milter's state
// A blocking hook in a milter whose state cannot be copied (it holds a unique_ptr).
#include <cppmilter/cppmilter.hpp>

#include <memory>
#include <string>

namespace cm = cppmilter;

struct lookups {
#ifdef CPPMILTER_FIXED
    std::shared_ptr<std::string> last;
#else
    std::unique_ptr<std::string> last;
#endif
};

inline constexpr auto m = cm::milter<cm::message_scoped<lookups>>(
    cm::on_mail_from(cm::blocking([](const cm::mail_from& from, auto& ctx) {
        ctx.message().last.reset(new std::string{from.address});
    })));
