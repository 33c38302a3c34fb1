// Where an MTA-side connection goes: a milter socket spec turned into an Asio endpoint.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>

#include <string_view>

namespace cppmilter::client::detail {

struct milter_endpoint {
    boost::asio::generic::stream_protocol::endpoint endpoint;
    bool tcp = false; // TCP_NODELAY applies
};

/// "inet:HOST:PORT", "inet:PORT@HOST", "inet6:[HOST]:PORT" (numeric hosts) or "unix:/path".
/// Throws client_error naming the spec and what is wrong with it.
milter_endpoint endpoint_for(std::string_view spec);

} // namespace cppmilter::client::detail
