// The smallest useful milter: only a MAIL FROM hook. Senders ending in @blocked.example
// (case-insensitive, angle brackets ignored) get "550 5.7.1 sender blocked".
#include "sender_block.hpp"

#include <iostream>

int main() {
    // Until the server exists this prints what the milter asks of the MTA.
    constexpr auto n = decltype(examples::sender_block)::negotiation;
    std::cout << "actions:  " << n.actions << "\nprotocol: " << n.protocol << '\n';
}
