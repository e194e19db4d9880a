// OpenSSL's EVP digests behind plain functions; each returns 1 on success like OpenSSL.
#include <openssl/evp.h>

static inline int ccrypto_sha256(const void *data, size_t length, unsigned char out[32]) {
    unsigned int written = 0;
    return EVP_Digest(data, length, out, &written, EVP_sha256(), NULL) == 1 && written == 32;
}

// Incremental digests, for files read in chunks. `md5` selects MD5 (what Drive and rclone
// compare), else SHA-256.
static inline EVP_MD_CTX *ccrypto_digest_new(int md5) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context != NULL && EVP_DigestInit_ex(context, md5 ? EVP_md5() : EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(context);
        return NULL;
    }
    return context;
}
static inline int ccrypto_digest_update(EVP_MD_CTX *context, const void *data, size_t length) {
    return EVP_DigestUpdate(context, data, length);
}
static inline int ccrypto_digest_final(EVP_MD_CTX *context, unsigned char *out, unsigned int *length) {
    return EVP_DigestFinal_ex(context, out, length);
}
static inline void ccrypto_digest_free(EVP_MD_CTX *context) { EVP_MD_CTX_free(context); }
