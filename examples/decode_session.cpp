// Demo of the protocol core: plays the MTA side of PROTOCOL.md §9 into a filter_session that
// behaves like the filter of that example (add "X-Scanned: yes" at end of message), prints
// every command and reply readably, and checks the filter's bytes against the reference.
#include "worked_example.hpp"

#include <cppmilter/proto.hpp>

#include <iostream>
#include <string>

namespace proto = cppmilter::proto;

namespace {

std::string from_hex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(std::string{hex.substr(i, 2)}, nullptr, 16)));
    return out;
}

/// Prints the replies the session just wrote, by decoding them as an MTA would.
void print_replies(std::string_view bytes) {
    proto::reply_decoder decoder;
    decoder.feed(bytes);
    while (auto r = decoder.next()) std::cout << "  F>M  " << r->value() << '\n';
}

} // namespace

int main() {
    std::string mta_stream, expected_filter_stream;
    for (const auto& p : cppmilter::example::worked_example)
        (p.from_mta ? mta_stream : expected_filter_stream) += from_hex(p.hex);

    proto::filter_session session{{.actions = proto::action::add_headers}};
    proto::command_decoder decoder;
    decoder.feed(mta_stream);
    std::string filter_stream;

    while (auto cmd = decoder.next()) {
        if (!*cmd) {
            std::cerr << "decode error: " << cmd->error() << '\n';
            return 1;
        }
        std::cout << "M>F  " << cmd->value() << '\n';
        std::string out;
        auto event = session.on_command(**cmd, out);
        if (!event) {
            std::cerr << "protocol error: " << event.error() << '\n';
            return 1;
        }
        if (event->step == proto::session_step::call_hook) {
            if (proto::kind_of(**cmd) == proto::command_kind::end_of_body)
                (void)session.answer(proto::add_header{"X-Scanned", "yes"}, out);
            if (auto ok = session.answer(proto::continue_{}, out); !ok) {
                std::cerr << "answer refused: " << ok.error() << '\n';
                return 1;
            }
        }
        print_replies(out);
        filter_stream += out;
    }
    std::cout << "negotiated: version " << session.options().version << ", actions "
              << session.options().actions << ", protocol " << session.options().protocol << '\n';
    if (filter_stream != expected_filter_stream) {
        std::cerr << "filter bytes differ from PROTOCOL.md §9\n";
        return 1;
    }
    std::cout << "filter replies match PROTOCOL.md §9 byte for byte (" << filter_stream.size() << " bytes)\n";
    return 0;
}
