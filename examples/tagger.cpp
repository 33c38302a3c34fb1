// Prints the negotiation the tagger milter derives at compile time.
#include "tagger.hpp"

#include <iostream>

int main() {
    constexpr auto n = decltype(examples::tagger)::negotiation;
    std::cout << "actions:  " << n.actions << "\nprotocol: " << n.protocol << '\n';
    for (std::size_t i = 0; i < n.macros.size(); ++i)
        if (n.macros[i]) std::cout << "macros[" << static_cast<cppmilter::proto::macro_stage>(i) << "]: " << *n.macros[i] << '\n';
}
