// The TLS side of the reactor: a self-signed Ed25519 certificate per Network, one TLS 1.3 context
// for both directions, and the checks that turn "whatever certificate the peer sent" into "the
// device key the peer proved".
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <climits>
#include <string>

#include "net/internal.h"

namespace grove::net::internal {
namespace {

constexpr long kCertificateValiditySeconds = 10L * 365 * 24 * 3600;

Status TlsInternal(const std::string& what) {
  return Internal(what + ": " + TakeTlsErrors("no OpenSSL error"));
}

// Returns the failure, or OK, that `cert` (the peer's leaf) deserves given `state`.
Status CheckPeerCertificate(X509* cert, const VerifyState& state) {
  EVP_PKEY* key = cert == nullptr ? nullptr : X509_get0_pubkey(cert);
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    return PermissionDenied("peer certificate key is not Ed25519");
  }
  crypto::PublicKey raw{};
  size_t length = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &length) != 1 || length != raw.size()) {
    return PermissionDenied("peer certificate key is not Ed25519");
  }
  if (state.expected.has_value() && *state.expected != raw) {
    return PermissionDenied("pinned key mismatch");
  }
  return Status::Ok();
}

// There is no CA: a device's certificate is self-signed, so OpenSSL's chain verification always
// reports an error (self-signed, and possibly not-yet-valid or expired when clocks differ). None
// of that matters here: what authenticates the peer is that TLS 1.3's CertificateVerify proves
// it holds the private key of the certificate's public key, and that key is the device key we
// report (and, for pinned dials, compare). So the callback ignores OpenSSL's verdict and
// decides by the leaf's key alone. Refusing here rather than after the handshake means a dial
// to the wrong device stops before this device's own certificate is sent.
int VerifyCallback(int /*preverify_ok*/, X509_STORE_CTX* store) {
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* state = ssl == nullptr ? nullptr : static_cast<VerifyState*>(SSL_get_app_data(ssl));
  if (state == nullptr) return 0;  // not one of ours: refuse rather than guess
  Status check = CheckPeerCertificate(X509_STORE_CTX_get_current_cert(store), *state);
  if (check.ok()) return 1;
  state->failure = std::move(check);
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

Result<X509Ptr> SelfSignedCertificate(const identity::Identity& me, EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  if (!cert) return TlsInternal("X509_new");
  const std::string cn = identity::DeviceIdText(me.device());
  X509_NAME* name = X509_get_subject_name(cert.get());
  const bool ok =
      X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
      ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), kCertificateValiditySeconds) != nullptr &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(cert.get(), name) == 1 && X509_set_pubkey(cert.get(), key) == 1 &&
      // Ed25519 hashes internally (PureEdDSA), so the digest must be NULL.
      X509_sign(cert.get(), key, nullptr) > 0;
  if (!ok) return TlsInternal("building the device certificate");
  return cert;
}

}  // namespace

std::string TakeTlsErrors(const std::string& fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    if (reason != nullptr) {
      out += reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      out += buf;
    }
  }
  return out.empty() ? fallback : out;
}

Result<SslCtxPtr> NewTlsContext(const identity::Identity& me) {
  const auto& seed = me.signing_key().seed();
  crypto::PkeyPtr key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!key) return TlsInternal("loading the Ed25519 device key");
  GROVE_ASSIGN_OR_RETURN(X509Ptr cert, SelfSignedCertificate(me, key.get()));

  SslCtxPtr ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) return TlsInternal("SSL_CTX_new");
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return TlsInternal("restricting to TLS 1.3");
  }
  if (SSL_CTX_use_certificate(c, cert.get()) != 1 || SSL_CTX_use_PrivateKey(c, key.get()) != 1 ||
      SSL_CTX_check_private_key(c) != 1) {
    return TlsInternal("installing the device certificate");
  }
  // FAIL_IF_NO_PEER_CERT applies when this context accepts: an inbound peer must show a key.
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, VerifyCallback);
  // Every connection does a full handshake so every connection proves its key afresh; tickets
  // would only cost bytes. Unexpected EOF reads as a clean close: frames carry their own length,
  // so truncation cannot pass as a shorter message.
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  // With partial writes SSL_write returns after each record it sent, so the queued byte count
  // falls as records leave rather than only when a whole batch has gone.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE);
  return ctx;
}

void AttachVerifyState(SSL* ssl, VerifyState* state) { SSL_set_app_data(ssl, state); }

Result<crypto::PublicKey> PeerSignKey(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return PermissionDenied("peer presented no certificate");
  EVP_PKEY* key = X509_get0_pubkey(cert);
  crypto::PublicKey raw{};
  size_t length = raw.size();
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
      EVP_PKEY_get_raw_public_key(key, raw.data(), &length) != 1 || length != raw.size()) {
    return PermissionDenied("peer certificate key is not Ed25519");
  }
  return raw;
}

}  // namespace grove::net::internal
