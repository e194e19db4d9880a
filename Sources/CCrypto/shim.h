// One-shot digests through OpenSSL's EVP interface; returns 1 on success like OpenSSL.
#include <openssl/evp.h>

static inline int ccrypto_sha256(const void *data, size_t length, unsigned char out[32]) {
    unsigned int written = 0;
    return EVP_Digest(data, length, out, &written, EVP_sha256(), NULL) == 1 && written == 32;
}
