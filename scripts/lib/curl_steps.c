/* The steps of snap's start that are libcurl's and OpenSSL's, alone, for scripts/bench-snap-start:
 *   curl_steps load                    load libcurl and its libraries, then exit
 *   curl_steps init                    + curl_global_init (OpenSSL's initialisation and configuration)
 *   curl_steps post URL CAFILE BODY    + one HTTPS POST of BODY to URL, trusting CAFILE only
 * Built against the same libcurl snap loads (Debian's libcurl4, the OpenSSL flavour). */
#include <curl/curl.h>
#include <string.h>

static size_t discard(char *data, size_t size, size_t count, void *user) { return size * count; }

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "load")) return argc < 2 ? 64 : 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 70;
    if (!strcmp(argv[1], "init")) return 0;
    if (strcmp(argv[1], "post") || argc != 5) return 64;
    CURL *easy = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_URL, argv[2]);
    curl_easy_setopt(easy, CURLOPT_CAINFO, argv[3]);
    curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, argv[4]);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    long status = 0;
    CURLcode code = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    return code == CURLE_OK && status == 200 ? 0 : 1;
}
