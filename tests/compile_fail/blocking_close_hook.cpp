// expect: abort and close hooks cannot be cm::blocking: nothing waits for them
// A close hook declared blocking: nothing awaits it, so it would still block the I/O thread.
#include <cppmilter/cppmilter.hpp>

#include <fstream>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_end_of_message(cm::blocking([](const cm::end_of_message&) { std::ofstream{"/dev/null"} << "done\n"; }))
#else
    cm::on_close(cm::blocking([](const cm::close_info&) { std::ofstream{"/dev/null"} << "done\n"; }))
#endif
);
