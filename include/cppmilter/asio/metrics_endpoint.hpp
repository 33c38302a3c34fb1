// The HTTP endpoint of --metrics-listen (GET /metrics), and the text it serves.
#pragma once

#include <cppmilter/asio/detail/metrics.hpp>
#include <cppmilter/asio/listen.hpp>

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cppmilter::asio_server::detail {

/// Prometheus text exposition (format 0.0.4) of the shards' sums and the open connections.
std::string render_metrics(const std::vector<std::unique_ptr<metrics_shard>>& shards, std::size_t open_connections);

/// Listens on `where` and answers GET /metrics with `render()`, on `context`'s thread.
class metrics_endpoint {
public:
    metrics_endpoint(boost::asio::io_context& context, const listen_spec& where, std::function<std::string()> render);
    ~metrics_endpoint();
    metrics_endpoint(const metrics_endpoint&) = delete;
    metrics_endpoint& operator=(const metrics_endpoint&) = delete;
    std::string address() const; ///< as a listen spec, e.g. "inet:127.0.0.1:9100"
    void close();

private:
    std::unique_ptr<listener> listener_;
};

} // namespace cppmilter::asio_server::detail
