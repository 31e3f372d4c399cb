#include "server/authenticator.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>

#include "server/testing/temp_dir.h"

namespace prom2gcm {
namespace {

// A known answer, made once with Python's crypt module (which calls the system's crypt(3)):
// crypt.crypt("correct horse", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)).
constexpr char kPythonHash[] = "$2b$05$p.MwBQpQqPMF.uKtsp3QiOgJFpjRI0.ERFYGEKbcODXmrffBWxCJe";

// A bcrypt hash of password made here with libxcrypt, at the given cost.
std::string Bcrypt(const std::string& password, int cost) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(crypt_gensalt_rn("$2b$", cost, nullptr, 0, salt, sizeof salt), nullptr);
  crypt_data data{};
  const char* hash = crypt_rn(password.c_str(), salt, &data, sizeof data);
  EXPECT_NE(hash, nullptr);
  return hash ? hash : "";
}

std::string BasicHeader(const std::string& user, const std::string& password) {
  const std::string pair = user + ":" + password;
  std::string encoded(4 * ((pair.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(pair.data()), static_cast<int>(pair.size()));
  encoded.resize(n);
  return "Basic " + encoded;
}

double Unauthorized(prometheus::Registry& registry, const std::string& reason) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "prom2gcm_http_unauthorized_total") continue;
    for (const auto& metric : family.metric) {
      if (metric.label.size() == 1 && metric.label[0].value == reason) return metric.counter.value;
    }
  }
  return 0;
}

TEST(ConstantTimeEqualsTest, ComparesContentsAndLengths) {
  EXPECT_TRUE(ConstantTimeEquals("s3cret-token", "s3cret-token"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("s3cret-token", "s3cret-tokeN"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret-token", "s3cret-token2"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret-token", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(BcryptMatchesTest, HashFromAnotherImplementationAndEveryPrefix) {
  EXPECT_TRUE(BcryptMatches("correct horse", kPythonHash));
  EXPECT_FALSE(BcryptMatches("correct horsE", kPythonHash));
  EXPECT_FALSE(BcryptMatches("", kPythonHash));
  std::string as_2y = kPythonHash, as_2a = kPythonHash;
  as_2y[2] = 'y';
  as_2a[2] = 'a';
  EXPECT_TRUE(BcryptMatches("correct horse", as_2y));  // htpasswd -B writes $2y$
  EXPECT_TRUE(BcryptMatches("correct horse", as_2a));
}

TEST(BcryptMatchesTest, HashMadeHere) {
  const std::string hash = Bcrypt("p@ss word", 4);
  EXPECT_EQ(hash.substr(0, 7), "$2b$04$");
  EXPECT_TRUE(BcryptMatches("p@ss word", hash));
  EXPECT_FALSE(BcryptMatches("p@ss word ", hash));
}

TEST(BcryptMatchesTest, RefusesNulPasswordsAndOtherHashes) {
  const std::string hash = Bcrypt("abc", 4);
  EXPECT_FALSE(BcryptMatches(std::string_view("abc\0def", 7), hash));  // crypt would only see "abc"
  crypt_data data{};
  const std::string sha512 = crypt_rn("abc", "$6$saltsalt$", &data, sizeof data);
  EXPECT_FALSE(BcryptMatches("abc", sha512));
  EXPECT_FALSE(BcryptMatches("abc", ""));
  EXPECT_FALSE(BcryptMatches("abc", hash.substr(0, 59)));
}

TEST(ParseBasicAuthUsersTest, PrometheusWebConfigStyle) {
  std::unordered_map<std::string, std::string> users;
  std::string error;
  const std::string text = std::string("# who may write\nbasic_auth_users:\n  alice: ") + kPythonHash +
                           "\n\n  \"bob\": '" + kPythonHash + "'\n";
  ASSERT_TRUE(ParseBasicAuthUsers(text, &users, &error)) << error;
  EXPECT_EQ(users.size(), 2u);
  EXPECT_EQ(users["alice"], kPythonHash);
  EXPECT_EQ(users["bob"], kPythonHash);
}

TEST(ParseBasicAuthUsersTest, ErrorsNameTheLine) {
  std::unordered_map<std::string, std::string> users;
  std::string error;
  EXPECT_FALSE(ParseBasicAuthUsers("alice " + std::string(kPythonHash), &users, &error));
  EXPECT_EQ(error, "line 1: want `user: bcrypt-hash`");
  users.clear();
  EXPECT_FALSE(ParseBasicAuthUsers("\nalice: plaintext", &users, &error));
  EXPECT_EQ(error, "line 2: the hash of user \"alice\" is not a bcrypt hash ($2a$, $2b$ or $2y$)");
  users.clear();
  EXPECT_FALSE(ParseBasicAuthUsers("a: " + std::string(kPythonHash) + "\na: " + kPythonHash, &users, &error));
  EXPECT_EQ(error, "line 2: user \"a\" is listed twice");
  users.clear();
  EXPECT_FALSE(ParseBasicAuthUsers("# nobody\n", &users, &error));
  EXPECT_EQ(error, "no users");
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Authenticator> Make(bool bearer, bool basic) {
    Authenticator::Options options;
    if (bearer) options.bearer_token_file = dir_.Write("token", "tok-123\n");
    if (basic) options.basic_auth_file = dir_.Write("users", std::string("alice: ") + kPythonHash + "\n");
    auto authenticator = std::make_unique<Authenticator>(options, registry_);
    std::string error;
    EXPECT_TRUE(authenticator->Load(&error)) << error;
    return authenticator;
  }

  testing::TempDir dir_;
  prometheus::Registry registry_;
};

TEST_F(AuthenticatorTest, BearerToken) {
  auto auth = Make(true, false);
  EXPECT_TRUE(auth->enabled());
  EXPECT_TRUE(auth->Check("Bearer tok-123").allowed);  // the file's newline is not part of the token
  EXPECT_TRUE(auth->Check("bearer tok-123").allowed);  // schemes are case-insensitive
  Authenticator::Decision wrong = auth->Check("Bearer tok-124");
  EXPECT_FALSE(wrong.allowed);
  EXPECT_EQ(wrong.reason, "invalid bearer token");
  EXPECT_FALSE(auth->Check("Bearer tok-12").allowed);
  EXPECT_FALSE(auth->Check("Bearer ").allowed);
  EXPECT_EQ(auth->Check("").reason, "missing Authorization header");
  EXPECT_EQ(auth->Check(BasicHeader("alice", "correct horse")).reason,
            "unsupported Authorization scheme: want Bearer");
  EXPECT_EQ(auth->Challenges(), std::vector<std::string>{"Bearer realm=\"prom2gcm\""});
  EXPECT_EQ(Unauthorized(registry_, "invalid_credentials"), 3);
  EXPECT_EQ(Unauthorized(registry_, "missing"), 1);
  EXPECT_EQ(Unauthorized(registry_, "unsupported_scheme"), 1);
}

TEST_F(AuthenticatorTest, BasicAuth) {
  auto auth = Make(false, true);
  EXPECT_TRUE(auth->Check(BasicHeader("alice", "correct horse")).allowed);
  EXPECT_EQ(auth->Check(BasicHeader("alice", "wrong")).reason, "invalid username or password");
  EXPECT_EQ(auth->Check(BasicHeader("mallory", "correct horse")).reason, "invalid username or password");
  EXPECT_EQ(auth->Check(BasicHeader("alice", "")).reason, "invalid username or password");
  EXPECT_EQ(auth->Check("Basic not*base64").reason, "malformed Basic credentials");
  EXPECT_EQ(auth->Check("Basic YWxpY2U=").reason, "malformed Basic credentials");  // "alice", no colon
  EXPECT_EQ(auth->Check("Bearer tok-123").reason, "unsupported Authorization scheme: want Basic");
  EXPECT_EQ(auth->Challenges(), std::vector<std::string>{"Basic realm=\"prom2gcm\", charset=\"UTF-8\""});
  EXPECT_EQ(Unauthorized(registry_, "invalid_credentials"), 5);
}

TEST_F(AuthenticatorTest, PasswordMayHoldColons) {
  Authenticator::Options options;
  options.basic_auth_file = dir_.Write("users", "u: " + Bcrypt("a:b:c", 4));
  Authenticator auth(options, registry_);
  std::string error;
  ASSERT_TRUE(auth.Load(&error)) << error;
  EXPECT_TRUE(auth.Check(BasicHeader("u", "a:b:c")).allowed);
  EXPECT_FALSE(auth.Check(BasicHeader("u", "a:b")).allowed);
}

TEST_F(AuthenticatorTest, EitherWhenBothAreConfigured) {
  auto auth = Make(true, true);
  EXPECT_TRUE(auth->Check("Bearer tok-123").allowed);
  EXPECT_TRUE(auth->Check(BasicHeader("alice", "correct horse")).allowed);
  EXPECT_EQ(auth->Check("Digest x").reason, "unsupported Authorization scheme: want Bearer or Basic");
  EXPECT_EQ(auth->Challenges().size(), 2u);
}

TEST_F(AuthenticatorTest, VerifiedPairsSkipBcryptButOthersDoNot) {
  Authenticator::Options options;
  options.basic_auth_file = dir_.Write("users", "slow: " + Bcrypt("pw", 12));  // about 0.2 s per check
  Authenticator auth(options, registry_);
  std::string error;
  ASSERT_TRUE(auth.Load(&error)) << error;
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(auth.Check(BasicHeader("slow", "pw")).allowed);
  const Clock::duration first = Clock::now() - start;
  const Clock::time_point again = Clock::now();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(auth.Check(BasicHeader("slow", "pw")).allowed);
  const Clock::duration twenty_cached = Clock::now() - again;
  EXPECT_LT(twenty_cached, first / 2) << "the verification was not cached";
  // The cache is keyed by the pair: a wrong password still pays for bcrypt and is refused.
  const Clock::time_point wrong = Clock::now();
  EXPECT_FALSE(auth.Check(BasicHeader("slow", "pW")).allowed);
  EXPECT_GT(Clock::now() - wrong, first / 4);
}

TEST_F(AuthenticatorTest, ReloadSwapsFilesAndKeepsTheOldOnesOnError) {
  auto auth = Make(true, true);
  dir_.Write("token", "tok-456");
  std::string error;
  ASSERT_TRUE(auth->Load(&error)) << error;
  EXPECT_FALSE(auth->Check("Bearer tok-123").allowed);
  EXPECT_TRUE(auth->Check("Bearer tok-456").allowed);

  dir_.Write("token", "  \n");
  EXPECT_FALSE(auth->Load(&error));
  EXPECT_EQ(error, "bearer token file " + dir_.path() + "/token is empty");
  EXPECT_TRUE(auth->Check("Bearer tok-456").allowed);

  dir_.Write("token", "tok-789");
  dir_.Write("users", "alice: $1$md5$nope");
  EXPECT_FALSE(auth->Load(&error));
  EXPECT_NE(error.find("not a bcrypt hash"), std::string::npos) << error;
  EXPECT_TRUE(auth->Check("Bearer tok-456").allowed);  // neither file is half-applied
  EXPECT_FALSE(auth->Check("Bearer tok-789").allowed);
  EXPECT_TRUE(auth->Check(BasicHeader("alice", "correct horse")).allowed);
}

TEST_F(AuthenticatorTest, MissingFileFailsToLoad) {
  Authenticator::Options options;
  options.bearer_token_file = dir_.path() + "/absent";
  Authenticator auth(options, registry_);
  std::string error;
  EXPECT_FALSE(auth.Load(&error));
  EXPECT_EQ(error, "cannot read " + dir_.path() + "/absent");
  EXPECT_FALSE(auth.Check("Bearer anything").allowed);
}

TEST_F(AuthenticatorTest, WithoutFilesNothingIsRequired) {
  Authenticator auth(Authenticator::Options{}, registry_);
  EXPECT_FALSE(auth.enabled());
}

}  // namespace
}  // namespace prom2gcm
