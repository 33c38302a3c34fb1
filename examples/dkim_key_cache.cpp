// Signing keys decoded once, not once per signature.
//
// libopendkim takes the signing key as PEM text and decodes it for every signature
// (dkim_privkey_load → PEM_read_bio_PrivateKey). With OpenSSL 3.0's decoders that costs more
// than the RSA-2048 signature itself (~480 µs against ~250–420 µs here), about half of the
// CPU the dkim milter spends per message. Its targets are linked with
// -Wl,--wrap=PEM_read_bio_PrivateKey (examples/dkim.cmake), so that the call from libopendkim
// lands here: a key text seen before gets the key decoded then, with one more reference
// (libopendkim frees what it gets). An EVP_PKEY is safe to sign with from several threads at
// once; each signature makes its own contexts.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

extern "C" EVP_PKEY* __real_PEM_read_bio_PrivateKey(BIO* bio, EVP_PKEY** out, pem_password_cb* callback, void* user);

namespace {

class decoded_keys {
public:
    ~decoded_keys() {
        for (auto& [text, entry] : keys_) EVP_PKEY_free(entry.key);
    }

    /// The key decoded from `text` before (one more reference), or null.
    EVP_PKEY* find(std::string_view text) {
        const std::lock_guard lock{mutex_};
        const auto found = keys_.find(text);
        if (found == keys_.end()) return nullptr;
        // Debian's libopendkim 2.11 never frees the signing key it gets (tests/examples/data/
        // dkim/lsan.supp), so every reference handed out stays counted: before OpenSSL's int
        // count could overflow, the entry is dropped (its key lives on with those references)
        // and the next signature decodes and caches the key afresh.
        if (++found->second.handed_out == max_references) {
            keys_.erase(found);
            return nullptr;
        }
        EVP_PKEY_up_ref(found->second.key);
        return found->second.key;
    }

    void remember(std::string_view text, EVP_PKEY* key) {
        const std::lock_guard lock{mutex_};
        // A few keys per configuration; reloads with other keys stop adding past the bound
        // (those keys are then decoded per signature, as without this cache).
        if (keys_.size() >= max_keys || keys_.contains(text)) return;
        EVP_PKEY_up_ref(key);
        keys_.emplace(std::string{text}, entry{key, 0});
    }

private:
    struct entry {
        EVP_PKEY* key;
        std::uint32_t handed_out;
    };
    static constexpr std::size_t max_keys = 64;
    static constexpr std::uint32_t max_references = 1u << 30;
    std::mutex mutex_;
    std::map<std::string, entry, std::less<>> keys_;
};

decoded_keys& cache() {
    static decoded_keys keys;
    return keys;
}

} // namespace

extern "C" EVP_PKEY* __wrap_PEM_read_bio_PrivateKey(BIO* bio, EVP_PKEY** out, pem_password_cb* callback, void* user) {
    // Only what libopendkim does: key text in a memory BIO, a new key returned, no pass phrase.
    char* data = nullptr;
    const long size = BIO_method_type(bio) == BIO_TYPE_MEM ? BIO_get_mem_data(bio, &data) : 0;
    if (out != nullptr || callback != nullptr || size <= 0) return __real_PEM_read_bio_PrivateKey(bio, out, callback, user);
    const std::string_view text{data, static_cast<std::size_t>(size)};
    if (EVP_PKEY* key = cache().find(text)) return key;
    EVP_PKEY* key = __real_PEM_read_bio_PrivateKey(bio, out, callback, user);
    if (key != nullptr) cache().remember(text, key);
    return key;
}
