// The pool that runs blocking hooks (cm::blocking, dsl/blocking.hpp) and the awaiting of one call.
#pragma once

#include <cppmilter/dsl/blocking.hpp>
#include <cppmilter/dsl/message.hpp>
#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/encoder.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace cppmilter {

/// Thrown (and answered with the fallback verdict) when a blocking hook finds the pool's queue full.
struct blocking_pool_full : std::runtime_error {
    blocking_pool_full()
        : std::runtime_error{"the blocking pool and its queue are full (--blocking-threads, --blocking-queue)"} {}
};

/// A fixed number of threads for blocking hooks, with a bounded queue. A thread cannot be
/// interrupted: a call that overruns keeps its thread until it returns. The threads are
/// detached, so destroying the pool (or exiting) never waits for a call stuck in a system call;
/// queued calls are dropped then, running ones finish on their own.
class blocking_pool {
public:
    /// `threads` ≥ 1 threads, started now; at most `queue_limit` calls wait for one.
    blocking_pool(unsigned threads, std::size_t queue_limit)
        : state_{std::make_shared<shared>()}, threads_{threads < 1 ? 1u : threads}, queue_limit_{queue_limit} {
        for (unsigned i = 0; i < threads_; ++i) std::thread{[s = state_] { work(*s); }}.detach();
    }
    ~blocking_pool() {
        std::lock_guard lock{state_->mutex};
        state_->stopping = true;
        state_->queue.clear();
        state_->wake.notify_all();
    }
    blocking_pool(const blocking_pool&) = delete;
    blocking_pool& operator=(const blocking_pool&) = delete;

    /// A call: does the work, and returns what tells its caller, which runs once the call's
    /// thread counts as free again (so that a caller told "done" finds its slot free).
    using job = std::function<std::function<void()>()>;

    /// Queues `call`; false (and nothing queued) when every thread is taken and queue_limit()
    /// calls wait already.
    bool try_post(job call) {
        std::lock_guard lock{state_->mutex};
        if (state_->busy + state_->queue.size() >= threads_ + queue_limit_ || state_->stopping) return false;
        state_->queue.push_back(std::move(call));
        state_->wake.notify_one();
        return true;
    }

    unsigned threads() const noexcept { return threads_; }
    std::size_t queue_limit() const noexcept { return queue_limit_; }
    /// Calls running now (including ones whose connection stopped waiting).
    unsigned busy() const {
        std::lock_guard lock{state_->mutex};
        return state_->busy;
    }
    /// Calls waiting for a thread.
    std::size_t queued() const {
        std::lock_guard lock{state_->mutex};
        return state_->queue.size();
    }

private:
    struct shared {
        mutable std::mutex mutex;
        std::condition_variable wake;
        std::deque<job> queue;
        unsigned busy = 0;
        bool stopping = false;
    };

    static void work(shared& s) {
        std::unique_lock lock{s.mutex};
        for (;;) {
            s.wake.wait(lock, [&] { return s.stopping || !s.queue.empty(); });
            if (s.stopping) return;
            auto call = std::move(s.queue.front());
            s.queue.pop_front();
            ++s.busy;
            lock.unlock();
            auto tell = call(); // never throws: run_blocking catches what the hook throws
            call = nullptr;     // its copies are released here, not under the lock
            lock.lock();
            --s.busy;
            if (tell) {
                lock.unlock();
                tell();
                tell = nullptr;
                lock.lock();
            }
        }
    }

    std::shared_ptr<shared> state_;
    unsigned threads_;
    std::size_t queue_limit_;
};

/// The pool for blocking hooks where none was given (the in-process harness): the server's
/// defaults, created on first use, never destroyed.
inline const std::shared_ptr<blocking_pool>& default_blocking_pool() {
    static const auto pool = std::make_shared<blocking_pool>(16, 256);
    return pool;
}

namespace detail {

/// A copy of an event that owns its bytes, for a blocking hook that may outlive the command's
/// buffer. A protocol command is encoded and parsed again (its views then point into the copy);
/// the end-of-message events copy what they show.
template <class E>
class owned_event {
public:
    explicit owned_event(const E& event) {
        if (auto ok = proto::encode(bytes_, proto::command{event}); !ok)
            throw std::runtime_error("cannot copy the event for a blocking hook: " + ok.error().message());
        constexpr std::size_t header = 5; // length (4) and letter (1), §1.2
        auto parsed = proto::parse_command({bytes_[4], std::string_view{bytes_}.substr(header)});
        if (!parsed) throw std::runtime_error("cannot copy the event for a blocking hook: " + parsed.error().message());
        event_ = std::get<E>(*parsed);
    }
    owned_event(const owned_event&) = delete; // the views point into this object
    owned_event& operator=(const owned_event&) = delete;
    const E& get() const noexcept { return event_; }

private:
    std::string bytes_;
    E event_{};
};
template <>
class owned_event<end_of_message> {
public:
    explicit owned_event(const end_of_message&) {}
    const end_of_message& get() const noexcept { return event_; }

private:
    end_of_message event_;
};
template <>
class owned_event<message_headers> {
public:
    explicit owned_event(const message_headers& m) : headers_{m.headers.begin(), m.headers.end()} { event_.headers = headers_; }
    owned_event(const owned_event&) = delete;
    owned_event& operator=(const owned_event&) = delete;
    const message_headers& get() const noexcept { return event_; }

private:
    std::vector<header_field> headers_;
    message_headers event_;
};
template <>
class owned_event<whole_message> {
public:
    explicit owned_event(const whole_message& m) : headers_{m.headers.begin(), m.headers.end()}, body_{m.body} {
        event_.headers = headers_;
        event_.body = body_;
    }
    owned_event(const owned_event&) = delete;
    owned_event& operator=(const owned_event&) = delete;
    const whole_message& get() const noexcept { return event_; }

private:
    std::vector<header_field> headers_;
    std::string body_;
    whole_message event_;
};

/// What a pool thread and the awaiting connection share about one blocking call.
template <class R, class Job>
struct blocking_call {
    explicit blocking_call(Job j) : job{std::move(j)} {}
    std::mutex mutex;
    bool abandoned = false; // the connection stopped waiting (hook timeout, shutdown)
    bool finished = false;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
    std::exception_ptr failure;
    boost::asio::steady_timer* wake = nullptr; // in the awaiting frame; cancelled to wake it
    boost::asio::any_io_executor executor;
    Job job;
};

} // namespace detail

/// Runs `job()` (all it needs copied into it) on `pool` and awaits its result on the caller's
/// executor, which goes on running other work meanwhile (the pool thread posts the wake-up to
/// it: any io_context concurrency hint but BOOST_ASIO_CONCURRENCY_HINT_UNSAFE). When the awaiting coroutine is
/// cancelled (the hook timeout) or destroyed, it stops waiting at once; the call, if it has not
/// started, is dropped, and if it has, runs to its end and its result is thrown away. Throws
/// blocking_pool_full when the queue is full, boost::system::system_error(operation_aborted)
/// when cancelled, and what `job` threw.
template <class R, class Job>
boost::asio::awaitable<R> run_blocking(blocking_pool& pool, Job job) {
    namespace asio = boost::asio;
    using call_type = detail::blocking_call<R, Job>;
    auto call = std::make_shared<call_type>(std::move(job));
    call->executor = co_await asio::this_coro::executor;
    asio::steady_timer wake{call->executor, std::chrono::steady_clock::time_point::max()};
    call->wake = &wake;
    struct stop_waiting { // whatever ends this frame, the pool thread must not touch it afterwards
        call_type& call;
        ~stop_waiting() {
            std::lock_guard lock{call.mutex};
            call.abandoned = true;
            call.wake = nullptr;
        }
    } guard{*call};

    const bool queued = pool.try_post([call]() -> std::function<void()> {
        {
            std::lock_guard lock{call->mutex};
            if (call->abandoned) return {}; // timed out while queued: do not start it
        }
        try {
            if constexpr (std::is_void_v<R>) call->job();
            else call->result.emplace(call->job());
        } catch (...) {
            call->failure = std::current_exception();
        }
        return [call] {
            std::lock_guard lock{call->mutex};
            call->finished = true;
            // Under the lock: a frame that is still waiting cannot go (nor its executor) meanwhile.
            if (!call->abandoned)
                asio::post(call->executor, [call] {
                    std::lock_guard lock{call->mutex};
                    if (call->wake) call->wake->cancel();
                });
        };
    });
    if (!queued) throw blocking_pool_full{};

    (void)co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    std::unique_lock lock{call->mutex};
    if (!call->finished) throw boost::system::system_error{asio::error::operation_aborted};
    lock.unlock(); // the pool thread is done with the call
    if (call->failure) std::rethrow_exception(call->failure);
    if constexpr (!std::is_void_v<R>) co_return std::move(*call->result);
}

} // namespace cppmilter
