// Authenticator decides whether an HTTP request's Authorization header carries valid credentials:
// a bearer token (--web.bearer-token-file) and/or users with bcrypt password hashes
// (--web.basic-auth-file, `user: hash` lines as in Prometheus' web config `basic_auth_users`).
// Secrets are compared in constant time; a (user, password) pair that passed bcrypt once is
// remembered by its SHA-256, so bcrypt's cost is paid once per pair, not per request. Refusals are
// counted in prom2gcm_http_unauthorized_total by reason.
//
// Owns the credentials loaded from the files and the verification cache. Thread-safety: Check may be
// called concurrently, and concurrently with Load (a reload swaps in a new snapshot of the files).
#ifndef PROM2GCM_SERVER_AUTHENTICATOR_H_
#define PROM2GCM_SERVER_AUTHENTICATOR_H_

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

namespace prom2gcm {

// True when a and b are equal; the time taken depends on neither their contents nor their lengths
// (both are reduced to SHA-256 digests, which are compared with CRYPTO_memcmp).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// True when password hashes to bcrypt_hash ($2a$, $2b$ or $2y$), checked with crypt_rn and compared
// in constant time.
bool BcryptMatches(std::string_view password, const std::string& bcrypt_hash);

// Parses `user: bcrypt-hash` lines (blank lines, `#` comments and a `basic_auth_users:` heading are
// skipped; values may be quoted) into *users. Returns false with *error naming the line on a
// malformed line, a duplicate user, a hash that is not bcrypt, or no user at all.
bool ParseBasicAuthUsers(std::string_view text, std::unordered_map<std::string, std::string>* users,
                         std::string* error);

class Authenticator {
 public:
  struct Options {
    std::string bearer_token_file;  // empty: bearer tokens are not accepted
    std::string basic_auth_file;    // empty: basic auth is not accepted
  };

  struct Decision {
    bool allowed = true;
    std::string reason;  // one line, when refused
  };

  Authenticator(const Options& options, prometheus::Registry& registry);
  ~Authenticator();

  // True when a file is configured, i.e. requests must authenticate.
  bool enabled() const { return !options_.bearer_token_file.empty() || !options_.basic_auth_file.empty(); }

  // (Re)reads the files. On failure returns false with *error set and keeps the credentials loaded
  // before (none before the first successful Load: then every request is refused).
  bool Load(std::string* error);

  // Checks the value of an Authorization header (empty when absent).
  Decision Check(std::string_view authorization);

  // The WWW-Authenticate challenges a 401 answer carries.
  std::vector<std::string> Challenges() const;

 private:
  struct Credentials;

  Decision Refuse(const char* metric_reason, std::string reason);
  Decision CheckBasic(Credentials& credentials, std::string_view encoded);
  std::shared_ptr<Credentials> Current() const;

  const Options options_;
  prometheus::Family<prometheus::Counter>& unauthorized_;  // by reason
  mutable std::mutex mutex_;                               // guards current_
  std::shared_ptr<Credentials> current_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_AUTHENTICATOR_H_
