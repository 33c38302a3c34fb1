// A milter with state, macros and end-of-message modifications, shared by its program and
// its tests. It stamps each message with how many recipients it had and which message of the
// connection it was, tells who authenticated, and holds messages whose Subject asks for it.
#pragma once

#include <cppmilter/cppmilter.hpp>

#include <string>
#include <string_view>

namespace examples {
namespace cm = cppmilter;

struct per_connection {
    int messages = 0; ///< messages seen on this SMTP connection so far
};
struct per_message {
    int recipients = 0;
    std::string sender;
};

inline constexpr auto tagger = cm::milter<cm::connection_scoped<per_connection>, cm::message_scoped<per_message>>(
    cm::macros<cm::stage::mail_from, "{auth_authen}">{},
    cm::macros<cm::stage::end_of_message, "i">{},
    cm::on_mail_from([](const cm::mail_from& m, auto& ctx) {
        ++ctx.connection().messages;
        ctx.message().sender = m.address;
    }),
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) { ++ctx.message().recipients; }),
    cm::on_end_of_message([](const cm::message_headers& msg, auto& ctx)
                              -> cm::eom<cm::add_header, cm::insert_header, cm::quarantine> {
        cm::eom<cm::add_header, cm::insert_header, cm::quarantine> result;
        result.add(cm::add_header{"X-Recipients", std::to_string(ctx.message().recipients)});
        result.add(cm::add_header{"X-Message-Number", std::to_string(ctx.connection().messages)});
        if (auto queue_id = cm::macro<"i">(ctx)) result.add(cm::add_header{"X-Queue-Id", std::string{*queue_id}});
        if (auto user = cm::macro<"auth_authen">(ctx))
            result.add(cm::insert_header{0, "X-Authenticated-As", std::string{*user}});
        if (auto subject = msg.header("Subject"); subject && subject->find("[hold]") != std::string_view::npos)
            result.add(cm::quarantine{"subject asked for a hold"});
        return result;
    }));

} // namespace examples
