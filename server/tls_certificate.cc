#include "server/tls_certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace prom2gcm {
namespace {

struct BioCloser {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioCloser>;

// The reason of OpenSSL's most recent error, and the queue emptied.
std::string OpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

}  // namespace

struct TlsCertificate::Loaded {
  ~Loaded() {
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
  X509* leaf = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509)* chain = sk_X509_new_null();  // intermediates, in file order
};

TlsCertificate::TlsCertificate(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

TlsCertificate::~TlsCertificate() = default;

bool TlsCertificate::Load(std::string* error) {
  ERR_clear_error();
  auto loaded = std::make_shared<Loaded>();
  BioPtr cert_bio(BIO_new_file(cert_file_.c_str(), "r"));
  if (!cert_bio || !(loaded->leaf = PEM_read_bio_X509_AUX(cert_bio.get(), nullptr, nullptr, nullptr))) {
    *error = "no PEM certificate in " + cert_file_ + ": " + OpenSslError();
    return false;
  }
  while (X509* intermediate = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(loaded->chain, intermediate);
  }
  ERR_clear_error();  // the end of the file reads as an error
  BioPtr key_bio(BIO_new_file(key_file_.c_str(), "r"));
  if (!key_bio || !(loaded->key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr))) {
    *error = "no PEM private key in " + key_file_ + ": " + OpenSslError();
    return false;
  }
  if (X509_check_private_key(loaded->leaf, loaded->key) != 1) {
    *error = "the key in " + key_file_ + " does not match the certificate in " + cert_file_;
    ERR_clear_error();
    return false;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  current_ = std::move(loaded);
  return true;
}

void TlsCertificate::Configure(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  SSL_CTX_set_cert_cb(ctx, &TlsCertificate::UseCurrent, this);
}

int TlsCertificate::UseCurrent(SSL* ssl, void* self) {
  const std::shared_ptr<const Loaded> loaded = static_cast<TlsCertificate*>(self)->Current();
  if (!loaded) return 0;  // fails the handshake
  // Takes its own references, so a reload may free `loaded` while this connection lives on.
  return SSL_use_cert_and_key(ssl, loaded->leaf, loaded->key, loaded->chain, /*override=*/1) == 1 ? 1 : 0;
}

std::shared_ptr<const TlsCertificate::Loaded> TlsCertificate::Current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

std::string TlsCertificate::Subject() const {
  const std::shared_ptr<const Loaded> loaded = Current();
  if (!loaded) return "";
  BioPtr out(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(out.get(), X509_get_subject_name(loaded->leaf), 0, XN_FLAG_ONELINE);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace prom2gcm
