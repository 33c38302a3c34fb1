// Run a milter in-process against a scripted MTA, one line per MTA event, no sockets.
#pragma once

#include <cppmilter/client/answers.hpp>
#include <cppmilter/dsl/async_connection.hpp>
#include <cppmilter/dsl/connection.hpp>
#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/encoder.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <initializer_list>
#include <optional>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cppmilter::testing {

/// What the milter answered to one MTA command (moved to the client library).
using cppmilter::client::answers;

/// What Postfix 3.x offers: version 6, every action, every protocol bit (PROTOCOL.md §5.3).
inline constexpr proto::optneg postfix_offer{6, proto::all_actions, proto::all_protocol};

/// Plays the MTA for one connection of `Pipeline`, through the real wire format: each call
/// encodes the command, the milter decodes and answers it, and the answer is decoded back.
/// Commands the milter switched off (NO* bits) are not sent, as an MTA would not send them.
/// Asynchronous hooks run on an io_context of the harness's own, timers included, until the
/// command is answered; PROGRESS packets sent meanwhile are among that command's answers.
/// Blocking hooks (cm::blocking) run on `limits.blocking`, or on default_blocking_pool(), and
/// are awaited the same way, bounded by `limits.timeout`.
template <class Pipeline>
class harness {
    static constexpr bool any_async = Pipeline::any_async();
    using connection_type = std::conditional_t<any_async, async_connection<Pipeline>, connection<Pipeline>>;

public:
    explicit harness(const Pipeline& p, proto::optneg offer = postfix_offer, hook_limits limits = {},
                     verdict fallback = tempfail)
        : connection_{make_connection(p, limits, std::move(fallback))} {
        auto a = send(offer);
        if (a.replies().size() != 1 || !std::holds_alternative<proto::optneg_reply>(a.replies()[0]))
            throw std::runtime_error("negotiation failed: " + a.str());
        negotiated_ = a;
    }
    harness(const harness&) = delete; // asynchronous hooks report PROGRESS to this object
    harness& operator=(const harness&) = delete;

    /// The OPTNEG reply the milter sent.
    const proto::optneg_reply& negotiated() const { return std::get<proto::optneg_reply>(negotiated_.replies()[0]); }

    /// MACRO for the command letter `stage` ('C', 'H', 'M', 'R', 'T', 'L', 'N', 'B', 'E').
    harness& macros(char stage, std::initializer_list<std::pair<std::string_view, std::string_view>> pairs) {
        std::string bytes;
        check(proto::encode_macro(bytes, stage, std::span{pairs.begin(), pairs.size()}));
        auto a = feed(bytes);
        if (!a.empty()) throw std::runtime_error("the milter answered a MACRO: " + a.str());
        return *this;
    }

    answers connect(std::string_view hostname = "client.example", std::string_view address = "192.0.2.1",
                    std::uint16_t port = 54321, proto::address_family family = proto::address_family::inet) {
        return send_if(proto::command_kind::connect, proto::connect{hostname, family, port, address});
    }
    answers helo(std::string_view name) { return send_if(proto::command_kind::helo, proto::helo{name}); }
    answers mail_from(std::string_view address, std::initializer_list<std::string_view> esmtp_args = {}) {
        if (!sends(proto::command_kind::mail)) return answers{{}, false};
        std::string bytes;
        check(proto::encode_mail(bytes, address, std::span{esmtp_args.begin(), esmtp_args.size()}));
        return feed(bytes);
    }
    answers rcpt(std::string_view address, std::initializer_list<std::string_view> esmtp_args = {}) {
        if (!sends(proto::command_kind::rcpt)) return answers{{}, false};
        std::string bytes;
        check(proto::encode_rcpt(bytes, address, std::span{esmtp_args.begin(), esmtp_args.size()}));
        return feed(bytes);
    }
    answers data() { return send_if(proto::command_kind::data, proto::data{}); }
    answers header(std::string_view name, std::string_view value) {
        return send_if(proto::command_kind::header, proto::header{name, value});
    }
    answers end_of_headers() { return send_if(proto::command_kind::end_of_headers, proto::end_of_headers{}); }
    answers body(std::string_view chunk) { return send_if(proto::command_kind::body, proto::body{chunk}); }
    answers end_of_message() { return send(proto::end_of_body{}); }
    answers unknown(std::string_view command) { return send_if(proto::command_kind::unknown, proto::unknown{command}); }
    void abort() { expect_silence(send(proto::abort{}), "ABORT"); }
    void quit() { expect_silence(send(proto::quit{}), "QUIT"); }
    void quit_new_connection() { expect_silence(send(proto::quit_new_connection{}), "QUIT_NC"); }
    /// The MTA vanished (EOF without QUIT).
    void disconnect() { connection_.on_disconnect(); }

    /// A whole transaction as Postfix sends it: MAIL, RCPTs, DATA, headers, EOH, body in
    /// 65535-byte chunks, end of message, then ABORT. Returns the end-of-message answers.
    answers message(std::string_view from, std::initializer_list<std::string_view> rcpts,
                    std::initializer_list<std::pair<std::string_view, std::string_view>> headers,
                    std::string_view body_text) {
        mail_from(from);
        for (auto r : rcpts) rcpt(r);
        data();
        for (const auto& [n, v] : headers) header(n, v);
        end_of_headers();
        for (std::size_t at = 0; at < body_text.size(); at += proto::max_body_chunk)
            body(body_text.substr(at, proto::max_body_chunk));
        auto result = end_of_message();
        abort();
        return result;
    }

    const connection_type& milter_connection() const noexcept { return connection_; }

    /// What the last hook that threw (or timed out) said, once; empty if none did.
    std::string take_hook_error() { return connection_.take_hook_error(); }

private:
    static void check(const proto::result<void>& r) {
        if (!r) throw std::runtime_error("cannot encode: " + r.error().message());
    }
    static void expect_silence(const answers& a, std::string_view what) {
        if (!a.empty()) throw std::runtime_error("the milter answered " + std::string{what} + ": " + a.str());
    }
    bool sends(proto::command_kind k) const { return connection_.session().options().sends(k); }

    answers send_if(proto::command_kind k, const proto::command& c) {
        if (!sends(k)) return answers{{}, false};
        return send(c);
    }
    answers send(const proto::command& c) {
        std::string bytes;
        check(proto::encode(bytes, c));
        return feed(bytes);
    }
    answers feed(std::string_view bytes) {
        proto::command_decoder decoder;
        decoder.feed(bytes);
        std::string out;
        while (auto cmd = decoder.next()) {
            if (!*cmd) throw std::runtime_error("undecodable command: " + cmd->error().message());
            auto step = handle(cmd->value(), out);
            if (!step) throw std::runtime_error("protocol error: " + step.error().message());
        }
        return answers{std::move(out)};
    }

    connection_type make_connection(const Pipeline& p, hook_limits limits, verdict fallback) {
        if constexpr (any_async)
            return connection_type{p, std::move(fallback), limits, [this](std::string_view packet) -> boost::asio::awaitable<void> {
                                       if (progress_to_) progress_to_->append(packet);
                                       co_return;
                                   }};
        else
            return connection_type{p, std::move(fallback)};
    }

    proto::result<proto::session_step> handle(const proto::command& cmd, std::string& out) {
        if constexpr (any_async) {
            if (connection_type::awaits(cmd)) {
                std::optional<proto::result<proto::session_step>> step;
                std::exception_ptr failure;
                progress_to_ = &out;
                auto run = [&]() -> boost::asio::awaitable<void> { step = co_await connection_.handle_async(cmd, out); };
                boost::asio::co_spawn(io_, run, [&](std::exception_ptr e) { failure = e; });
                io_.run();
                io_.restart();
                progress_to_ = nullptr;
                if (failure) std::rethrow_exception(failure);
                return *step;
            }
        }
        return connection_.handle(cmd, out);
    }

    boost::asio::io_context io_{1};
    std::string* progress_to_ = nullptr; // the answers of the command being handled
    connection_type connection_;
    answers negotiated_;
};

} // namespace cppmilter::testing
