// TlsCertificate is the certificate chain and private key HTTPS is served with
// (--web.tls-cert-file, --web.tls-key-file, PEM). It hands them to every TLS handshake through
// OpenSSL's certificate callback, so a Load() on SIGHUP takes effect for the next connection without
// closing the listener or changing the live SSL_CTX (which httplib shares between its threads).
//
// Owns the loaded certificates and key. Thread-safety: Load may run concurrently with handshakes.
#ifndef PROM2GCM_SERVER_TLS_CERTIFICATE_H_
#define PROM2GCM_SERVER_TLS_CERTIFICATE_H_

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>

namespace prom2gcm {

class TlsCertificate {
 public:
  TlsCertificate(std::string cert_file, std::string key_file);
  ~TlsCertificate();

  // (Re)reads both files: the certificate file holds the server's certificate first, then any
  // intermediates. On failure (unreadable, not PEM, key not matching the certificate) returns false
  // with *error set and keeps serving what was loaded before.
  bool Load(std::string* error);

  // Sets ctx up to serve this certificate (TLS 1.2 or later). This object must outlive ctx's use.
  void Configure(SSL_CTX* ctx);

  // The subject of the certificate now served, e.g. "CN = prom2gcm"; empty before the first Load.
  std::string Subject() const;

 private:
  struct Loaded;

  static int UseCurrent(SSL* ssl, void* self);  // OpenSSL's certificate callback
  std::shared_ptr<const Loaded> Current() const;

  const std::string cert_file_, key_file_;
  mutable std::mutex mutex_;  // guards current_
  std::shared_ptr<const Loaded> current_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_TLS_CERTIFICATE_H_
