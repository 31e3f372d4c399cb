#include "server/authenticator.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <sstream>
#include <unordered_set>

namespace prom2gcm {
namespace {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

// Verified (user, password) pairs kept before the cache is emptied and starts over.
constexpr size_t kMaxCachedVerifications = 4096;
// Checked against when the user is unknown, so an unknown user costs what a wrong password costs and
// the answer's timing does not tell which users exist. The hash of a throwaway phrase, cost 10.
constexpr char kTimingEqualizerHash[] = "$2b$10$.u0OYJqwS5sAWaShJmXw/umLLvCpaNpg0rKTqXT1EP8KgKRyx6rVG";
constexpr char kRealm[] = "realm=\"prom2gcm\"";

Digest Sha256(std::string_view data) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view Unquote(std::string_view s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool ReadWholeFile(const std::string& path, std::string* contents, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  if (in) buffer << in.rdbuf();
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  *contents = std::move(buffer).str();
  return true;
}

// A bcrypt hash as crypt(3) writes it: $2a$, $2b$ or $2y$, a two-digit cost, $, 53 characters.
bool IsBcryptHash(std::string_view hash) {
  return hash.size() == 60 && hash.substr(0, 2) == "$2" &&
         (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') && hash[3] == '$' &&
         std::isdigit(static_cast<unsigned char>(hash[4])) && std::isdigit(static_cast<unsigned char>(hash[5])) &&
         hash[6] == '$';
}

// Standard base64 with padding, as HTTP Basic credentials are sent; false when malformed.
bool DecodeBase64(std::string_view encoded, std::string* decoded) {
  if (encoded.empty() || encoded.size() % 4 != 0) return false;
  decoded->resize(encoded.size() / 4 * 3);
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded->data()),
                                     reinterpret_cast<const unsigned char*>(encoded.data()),
                                     static_cast<int>(encoded.size()));
  if (length < 0) return false;
  size_t padding = 0;
  while (padding < 2 && encoded[encoded.size() - 1 - padding] == '=') ++padding;
  decoded->resize(static_cast<size_t>(length) - padding);
  return true;
}

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  const Digest da = Sha256(a), db = Sha256(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

bool BcryptMatches(std::string_view password, const std::string& bcrypt_hash) {
  // crypt takes C strings: a password with a NUL would be cut short and could match a prefix.
  if (password.find('\0') != std::string_view::npos || !IsBcryptHash(bcrypt_hash)) return false;
  auto data = std::make_unique<crypt_data>();  // about 32 KiB: not for the stack
  const std::string phrase(password);
  const char* hashed = crypt_rn(phrase.c_str(), bcrypt_hash.c_str(), data.get(), sizeof(crypt_data));
  return hashed != nullptr && ConstantTimeEquals(hashed, bcrypt_hash);
}

bool ParseBasicAuthUsers(std::string_view text, std::unordered_map<std::string, std::string>* users,
                         std::string* error) {
  int line_number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = TrimSpace(text.substr(0, newline));
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    if (line.empty() || line.front() == '#' || line == "basic_auth_users:") continue;
    const size_t colon = line.find(':');
    const std::string user(colon == std::string_view::npos ? "" : Unquote(TrimSpace(line.substr(0, colon))));
    const std::string hash(colon == std::string_view::npos ? "" : Unquote(TrimSpace(line.substr(colon + 1))));
    if (user.empty()) {
      *error = "line " + std::to_string(line_number) + ": want `user: bcrypt-hash`";
      return false;
    }
    if (!IsBcryptHash(hash)) {
      *error = "line " + std::to_string(line_number) + ": the hash of user \"" + user +
               "\" is not a bcrypt hash ($2a$, $2b$ or $2y$)";
      return false;
    }
    if (!users->emplace(user, hash).second) {
      *error = "line " + std::to_string(line_number) + ": user \"" + user + "\" is listed twice";
      return false;
    }
  }
  if (users->empty()) {
    *error = "no users";
    return false;
  }
  return true;
}

// One loaded state of the files, replaced whole on reload (so a reload also empties the cache).
struct Authenticator::Credentials {
  bool accepts_bearer = false;
  std::string bearer_token;
  bool accepts_basic = false;
  std::unordered_map<std::string, std::string> users;  // name -> bcrypt hash

  // Whether SHA-256(user NUL password) passed bcrypt before.
  bool Verified(const Digest& pair) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    return verified.count(std::string(pair.begin(), pair.end())) > 0;
  }
  void RememberVerified(const Digest& pair) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (verified.size() >= kMaxCachedVerifications) verified.clear();
    verified.emplace(pair.begin(), pair.end());
  }

  std::mutex cache_mutex;
  std::unordered_set<std::string> verified;
};

Authenticator::Authenticator(const Options& options, prometheus::Registry& registry)
    : options_(options),
      unauthorized_(prometheus::BuildCounter()
                        .Name("prom2gcm_http_unauthorized_total")
                        .Help("HTTP requests answered 401, by reason: missing, unsupported_scheme, "
                              "invalid_credentials.")
                        .Register(registry)),
      current_(std::make_shared<Credentials>()) {}

Authenticator::~Authenticator() = default;

bool Authenticator::Load(std::string* error) {
  auto loaded = std::make_shared<Credentials>();
  if (!options_.bearer_token_file.empty()) {
    std::string contents;
    if (!ReadWholeFile(options_.bearer_token_file, &contents, error)) return false;
    loaded->bearer_token = std::string(TrimSpace(contents));
    if (loaded->bearer_token.empty()) {
      *error = "bearer token file " + options_.bearer_token_file + " is empty";
      return false;
    }
    loaded->accepts_bearer = true;
  }
  if (!options_.basic_auth_file.empty()) {
    std::string contents, parse_error;
    if (!ReadWholeFile(options_.basic_auth_file, &contents, error)) return false;
    if (!ParseBasicAuthUsers(contents, &loaded->users, &parse_error)) {
      *error = options_.basic_auth_file + ": " + parse_error;
      return false;
    }
    loaded->accepts_basic = true;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  current_ = std::move(loaded);
  return true;
}

std::shared_ptr<Authenticator::Credentials> Authenticator::Current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

Authenticator::Decision Authenticator::Check(std::string_view authorization) {
  const std::shared_ptr<Credentials> credentials = Current();
  authorization = TrimSpace(authorization);
  if (authorization.empty()) return Refuse("missing", "missing Authorization header");
  const size_t space = authorization.find(' ');
  const std::string_view scheme = authorization.substr(0, space);
  const std::string_view presented = TrimSpace(authorization.substr(std::min(space, authorization.size())));
  if (credentials->accepts_bearer && EqualsIgnoreCase(scheme, "Bearer")) {
    if (ConstantTimeEquals(presented, credentials->bearer_token)) return {};
    return Refuse("invalid_credentials", "invalid bearer token");
  }
  if (credentials->accepts_basic && EqualsIgnoreCase(scheme, "Basic")) return CheckBasic(*credentials, presented);
  const bool bearer = !options_.bearer_token_file.empty(), basic = !options_.basic_auth_file.empty();
  const char* wanted = bearer && basic ? "Bearer or Basic" : bearer ? "Bearer" : "Basic";
  return Refuse("unsupported_scheme", std::string("unsupported Authorization scheme: want ") + wanted);
}

Authenticator::Decision Authenticator::CheckBasic(Credentials& credentials, std::string_view encoded) {
  std::string decoded;
  size_t colon = std::string::npos;
  if (DecodeBase64(encoded, &decoded)) colon = decoded.find(':');
  if (colon == std::string::npos) return Refuse("invalid_credentials", "malformed Basic credentials");
  const std::string user = decoded.substr(0, colon);
  const std::string_view password = std::string_view(decoded).substr(colon + 1);
  auto it = credentials.users.find(user);
  if (it == credentials.users.end()) {
    BcryptMatches(password, kTimingEqualizerHash);
    return Refuse("invalid_credentials", "invalid username or password");
  }
  // A password holding a NUL never verifies, so this encoding of the pair is unambiguous.
  const Digest pair = Sha256(user + '\0' + std::string(password));
  if (credentials.Verified(pair)) return {};
  if (!BcryptMatches(password, it->second)) return Refuse("invalid_credentials", "invalid username or password");
  credentials.RememberVerified(pair);
  return {};
}

Authenticator::Decision Authenticator::Refuse(const char* metric_reason, std::string reason) {
  unauthorized_.Add({{"reason", metric_reason}}).Increment();
  return Decision{false, std::move(reason)};
}

std::vector<std::string> Authenticator::Challenges() const {
  std::vector<std::string> challenges;
  if (!options_.bearer_token_file.empty()) challenges.push_back(std::string("Bearer ") + kRealm);
  if (!options_.basic_auth_file.empty()) {
    challenges.push_back(std::string("Basic ") + kRealm + ", charset=\"UTF-8\"");
  }
  return challenges;
}

}  // namespace prom2gcm
