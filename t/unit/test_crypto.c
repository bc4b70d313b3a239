
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: unit tests of mg_jwk.c and mg_jws.c, a TAP producer.
 *
 * usage: test_crypto DIR
 *
 * DIR holds vectors.txt and the files it names, made by t/01-crypto.t with
 * tooling independent of OpenSSL's JOSE handling (CryptX, Crypt::JWT,
 * PyJWT).  Lines of vectors.txt:
 *
 *   verify EXPECT ALG JWKFILE TOKEN NAME...
 *       EXPECT is valid, invalid, or nofit (mg_jwk_fits() must refuse
 *       and mg_jws_verify() must still say invalid)
 *   fits 0|1 ALG JWKFILE NAME...
 *   jwks RC NKEYS SKIPPED[/WEAK] FILE TEXT...
 *       TEXT ("-": none) must occur in skip_reason, or in err if RC is -1;
 *       WEAK (0 if absent) is how many of the skipped keys are weak, and
 *       weak_reason must then name a key and RFC 7518
 *
 * Besides, a few fixed cases need no generated keys.  Every test also
 * requires that OpenSSL's error queue is left empty.
 *
 * mg_jwks_parse() is given two allocators, as the module gives it the
 * set's pool and a pool for the parse: the scratch one, and the document
 * with it, is overwritten and freed as soon as the call returns, so that
 * a key pointing into either shows as a wrong kid or secret, or as a
 * use after free under a sanitizer.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/hmac.h>

#include "mg_base64url.h"
#include "mg_jwk.h"
#include "mg_jws.h"


#define T_LINE_MAX  (MG_JWT_MAX_TOKEN + 1024)
#define T_FILE_MAX  (1024 * 1024)

/* base64url of "0123456789abcdef" twice and three times */
#define T_K32  "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
#define T_K48  "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYw" \
               "MTIzNDU2Nzg5YWJjZGVm"


typedef struct t_block_s  t_block_t;

struct t_block_s {
    t_block_t            *next;
    size_t                size;
};


/* the blocks of an allocator, and how many bytes they hand out */
typedef struct {
    t_block_t            *blocks;
    size_t                size;
} t_pool_t;


/* a document, and what mg_jwks_parse() makes of it */
typedef struct {
    const char           *name;
    const char           *doc;
    int                   rc;
    size_t                nkeys;
    const char           *text;     /* in err or skip_reason; NULL: none */
} t_doc_t;


static void *t_alloc(void *data, size_t size);
static void t_release(t_pool_t *pool);
static void t_free_all(void);
static int t_jwks_parse(mg_jwks_t *jwks, const unsigned char *data,
    size_t len, char *err);
static void t_ok(int ok, const char *fmt, const char *name);
static void t_diag(const char *fmt, ...);
static char *t_read_file(const char *dir, const char *name, size_t *len);
static int t_load_key(const char *dir, const char *file, mg_jwks_t *jwks);
static void t_verify(const char *dir, char *args);
static void t_fits(const char *dir, char *args);
static void t_jwks(const char *dir, char *args);
static void t_fixed(void);
static void t_json(void);
static void t_escapes(void);
static void t_scratch(void);
static char *t_tiny_values(const char *head, const char *value, size_t n,
    const char *tail, size_t *len);
static int t_parse(const char *doc, mg_jwks_t *jwks, char *err);
static char *t_word(char **p);


static int             t_n;
static int             t_failed;
static t_pool_t        t_set;       /* what a key set keeps */
static t_pool_t        t_tmp;       /* scratch memory, and documents */
static mg_allocator_t  t_allocator = { t_alloc, &t_set };
static mg_allocator_t  t_scratch_allocator = { t_alloc, &t_tmp };


int
main(int argc, char **argv)
{
    char   *p, *word, line[T_LINE_MAX], path[4096];
    FILE   *f;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }

    snprintf(path, sizeof(path), "%s/vectors.txt", argv[1]);

    f = fopen(path, "r");
    if (f == NULL) {
        printf("1..1\nnot ok 1 - open %s\n", path);
        return 1;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';

        p = line;
        word = t_word(&p);

        if (word == NULL || word[0] == '#') {
            continue;
        }

        if (strcmp(word, "verify") == 0) {
            t_verify(argv[1], p);

        } else if (strcmp(word, "fits") == 0) {
            t_fits(argv[1], p);

        } else if (strcmp(word, "jwks") == 0) {
            t_jwks(argv[1], p);

        } else {
            t_ok(0, "vectors.txt: unknown line %s", word);
        }

        t_free_all();
    }

    fclose(f);

    t_fixed();
    t_free_all();

    t_json();
    t_free_all();

    t_escapes();
    t_free_all();

    t_scratch();
    t_free_all();

    printf("1..%d\n", t_n);

    return t_failed ? 1 : 0;
}


static void *
t_alloc(void *data, size_t size)
{
    t_pool_t   *pool = data;
    t_block_t  *b;

    /* 16 bytes keep the payload aligned as malloc() aligns */

    b = malloc(16 + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = pool->blocks;
    b->size = size;
    pool->blocks = b;
    pool->size += size;

    return (char *) b + 16;
}


/* frees the blocks, overwritten first: whatever still points there breaks */

static void
t_release(t_pool_t *pool)
{
    t_block_t  *b;

    while (pool->blocks != NULL) {
        b = pool->blocks;
        pool->blocks = b->next;
        memset((char *) b + 16, 0xa5, b->size);
        free(b);
    }

    pool->size = 0;
}


static void
t_free_all(void)
{
    t_release(&t_set);
    t_release(&t_tmp);
}


/*
 * mg_jwks_parse() with the set's memory in t_set and scratch memory in
 * t_tmp, which is released on return; data should be in t_tmp too.
 */

static int
t_jwks_parse(mg_jwks_t *jwks, const unsigned char *data, size_t len,
    char *err)
{
    int  rc;

    rc = mg_jwks_parse(jwks, data, len, &t_allocator, &t_scratch_allocator,
                       err, 256);

    t_release(&t_tmp);

    return rc;
}


static void
t_ok(int ok, const char *fmt, const char *name)
{
    unsigned long  e;
    char           buf[256];

    /* every operation must leave OpenSSL's error queue as it found it */

    e = ERR_peek_error();
    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        t_diag("OpenSSL error queue not empty: %s", buf);
        ERR_clear_error();
        ok = 0;
    }

    t_n++;

    if (!ok) {
        t_failed++;
    }

    printf("%s %d - ", ok ? "ok" : "not ok", t_n);
    printf(fmt, name);
    printf("\n");
    fflush(stdout);
}


static void
t_diag(const char *fmt, ...)
{
    va_list  args;

    printf("# ");
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");
}


static char *
t_word(char **p)
{
    char  *w;

    while (**p == ' ') {
        (*p)++;
    }

    if (**p == '\0') {
        return NULL;
    }

    w = *p;

    while (**p != ' ' && **p != '\0') {
        (*p)++;
    }

    if (**p == ' ') {
        *(*p)++ = '\0';
    }

    return w;
}


static char *
t_read_file(const char *dir, const char *name, size_t *len)
{
    char   *buf, path[4096];
    FILE   *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        t_diag("cannot open %s", path);
        return NULL;
    }

    buf = t_alloc(&t_tmp, T_FILE_MAX);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }

    *len = fread(buf, 1, T_FILE_MAX, f);
    fclose(f);

    return buf;
}


static int
t_load_key(const char *dir, const char *file, mg_jwks_t *jwks)
{
    char    *data, err[256];
    size_t   len;

    data = t_read_file(dir, file, &len);
    if (data == NULL) {
        return -1;
    }

    if (t_jwks_parse(jwks, (unsigned char *) data, len, err) != 0) {
        t_diag("%s: %s", file, err);
        return -1;
    }

    if (jwks->nkeys != 1) {
        t_diag("%s: %zu keys, %zu skipped (%s)", file, jwks->nkeys,
               jwks->skipped, jwks->skipped ? jwks->skip_reason : "");
        mg_jwks_free(jwks);
        return -1;
    }

    return 0;
}


static void
t_verify(const char *dir, char *args)
{
    int             rc, fits, want, ok;
    char           *expect, *alg_name, *file, *token, *dot1, *dot2, *name;
    size_t          sig_len;
    mg_jwks_t       jwks;
    mg_jwt_alg_e    alg;
    unsigned char  *sig;

    expect = t_word(&args);
    alg_name = t_word(&args);
    file = t_word(&args);
    token = t_word(&args);
    name = args;

    if (token == NULL) {
        t_ok(0, "bad verify line %s", name);
        return;
    }

    alg = mg_jwt_alg_by_name((unsigned char *) alg_name, strlen(alg_name));

    if (alg == MG_JWT_ALG_UNKNOWN || t_load_key(dir, file, &jwks) != 0) {
        t_ok(0, "%s (setup)", name);
        return;
    }

    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;

    if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL) {
        mg_jwks_free(&jwks);
        t_ok(0, "%s (token shape)", name);
        return;
    }

    sig = t_alloc(&t_set, mg_base64url_decoded_size(strlen(dot2 + 1)) + 1);

    if (sig == NULL
        || mg_base64url_decode(sig, &sig_len, (unsigned char *) dot2 + 1,
                               strlen(dot2 + 1))
           != 0)
    {
        mg_jwks_free(&jwks);
        t_ok(0, "%s (signature base64url)", name);
        return;
    }

    fits = mg_jwk_fits(&jwks.keys[0], alg);

    rc = mg_jws_verify(alg, &jwks.keys[0], (unsigned char *) token,
                       dot2 - token, sig, sig_len);

    if (strcmp(expect, "valid") == 0) {
        want = MG_JWS_VALID;
        ok = fits && rc == want;

    } else if (strcmp(expect, "invalid") == 0) {
        want = MG_JWS_INVALID;
        ok = fits && rc == want;

    } else {
        want = MG_JWS_INVALID;
        ok = !fits && rc == want;
    }

    if (!ok) {
        t_diag("fits %d, mg_jws_verify() %d, expected %d", fits, rc, want);
    }

    mg_jwks_free(&jwks);

    t_ok(ok, "%s", name);
}


static void
t_fits(const char *dir, char *args)
{
    int           want, got;
    char         *expect, *alg_name, *file, *name;
    mg_jwks_t     jwks;
    mg_jwt_alg_e  alg;

    expect = t_word(&args);
    alg_name = t_word(&args);
    file = t_word(&args);
    name = args;

    if (file == NULL) {
        t_ok(0, "bad fits line %s", name);
        return;
    }

    alg = mg_jwt_alg_by_name((unsigned char *) alg_name, strlen(alg_name));

    if (alg == MG_JWT_ALG_UNKNOWN || t_load_key(dir, file, &jwks) != 0) {
        t_ok(0, "%s (setup)", name);
        return;
    }

    want = atoi(expect);
    got = mg_jwk_fits(&jwks.keys[0], alg);

    if (got != want) {
        t_diag("mg_jwk_fits() %d, expected %d", got, want);
    }

    mg_jwks_free(&jwks);

    t_ok(got == want, "%s", name);
}


static void
t_jwks(const char *dir, char *args)
{
    int         rc, ok;
    char       *want_rc, *want_n, *want_skipped, *want_weak, *file, *text;
    char       *data, err[256];
    size_t      len, weak;
    mg_jwks_t   jwks;

    want_rc = t_word(&args);
    want_n = t_word(&args);
    want_skipped = t_word(&args);
    file = t_word(&args);
    text = args;

    if (file == NULL) {
        t_ok(0, "bad jwks line %s", text);
        return;
    }

    want_weak = strchr(want_skipped, '/');
    weak = want_weak ? (size_t) atoi(want_weak + 1) : 0;

    data = t_read_file(dir, file, &len);
    if (data == NULL) {
        t_ok(0, "JWKS %s (setup)", file);
        return;
    }

    err[0] = '\0';

    rc = t_jwks_parse(&jwks, (unsigned char *) data, len, err);

    ok = (rc == atoi(want_rc));

    if (rc == 0) {
        ok = ok && jwks.nkeys == (size_t) atoi(want_n)
                && jwks.skipped == (size_t) atoi(want_skipped)
                && jwks.weak == weak;

        if (weak) {
            ok = ok && strncmp(jwks.weak_reason, "key ", 4) == 0
                    && strstr(jwks.weak_reason, "RFC 7518 requires") != NULL;

            t_diag("%s: first weak: %s", file, jwks.weak_reason);
        }

        if (strcmp(text, "-") != 0) {
            ok = ok && jwks.skipped
                    && strstr(jwks.skip_reason, text) != NULL;
        }

        t_diag("%s: %zu keys, %zu skipped%s%s", file, jwks.nkeys,
               jwks.skipped, jwks.skipped ? ", last: " : "",
               jwks.skipped ? jwks.skip_reason : "");

        mg_jwks_free(&jwks);

    } else {
        ok = ok && (strcmp(text, "-") == 0 || strstr(err, text) != NULL);

        t_diag("%s: error: %s", file, err);
    }

    t_ok(ok, "JWKS %s", file);
}


/* doc is copied to scratch memory, which goes once it is parsed */

static int
t_parse(const char *doc, mg_jwks_t *jwks, char *err)
{
    size_t          len;
    unsigned char  *p;

    err[0] = '\0';
    len = strlen(doc);

    p = t_alloc(&t_tmp, len + 1);
    if (p == NULL) {
        snprintf(err, 256, "t_parse: out of memory");
        return -2;
    }

    memcpy(p, doc, len);

    return t_jwks_parse(jwks, p, len, err);
}


static void
t_fixed(void)
{
    int              rc, ok;
    size_t           i;
    mg_jwk_t         rsa;
    unsigned int     tag_len;
    mg_jwks_t        jwks;
    char             err[256], doc[256];
    unsigned char    sig[256];

    static const char  *not_jwk[] = {
        "[]",
        "[{\"kty\":\"oct\",\"k\":\"AAAA\"}]",
        "\"keys\"",
        "42",
        "null",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":\"x\"}",
        "{\"keys\":[]",
        "{\"keys\":[],\"keys\":[]}",
        "{\"kty\":\"oct\",\"kty\":\"oct\",\"k\":\"AAAA\"}",
        "",
        "\xff\xfe{}",
        NULL
    };

    for (i = 0; not_jwk[i] != NULL; i++) {
        rc = t_parse(not_jwk[i], &jwks, err);

        if (rc == 0) {
            mg_jwks_free(&jwks);
        }

        t_diag("%s", err);
        t_ok(rc == -1 && strncmp(err, "not a JWK or JWK Set", 20) == 0,
             "not a JWK: %s", not_jwk[i]);
    }

    /* a single key, its kid copied; the secret is 0123456789abcdef twice */

    rc = t_parse("{\"kty\":\"oct\",\"kid\":\"k1\",\"k\":\"" T_K32 "\"}",
                 &jwks, err);

    ok = rc == 0 && jwks.nkeys == 1 && jwks.skipped == 0
         && jwks.keys[0].kty == MG_JWK_OCT
         && jwks.keys[0].kid.len == 2
         && memcmp(jwks.keys[0].kid.data, "k1", 2) == 0
         && jwks.keys[0].secret.len == 32
         && memcmp(jwks.keys[0].secret.data,
                   "0123456789abcdef0123456789abcdef", 32) == 0
         && jwks.keys[0].alg == MG_JWT_ALG_UNKNOWN;

    if (rc == 0) {
        mg_jwks_free(&jwks);
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "single oct JWK with kid; mg_jwks_free() twice");

    /* a key without kid has kid.data NULL, an empty kid is kept */

    rc = t_parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"" T_K32 "\"},"
                 "{\"kty\":\"oct\",\"kid\":\"\",\"k\":\"" T_K32 "\"}]}",
                 &jwks, err);

    ok = rc == 0 && jwks.nkeys == 2
         && jwks.keys[0].kid.data == NULL
         && jwks.keys[1].kid.data != NULL && jwks.keys[1].kid.len == 0;

    if (rc == 0) {
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "kid absent vs. empty");

    /* what a skip reason shows of a hostile kid */

    rc = t_parse("{\"keys\":[{\"kty\":\"nope\",\"kid\":\"a\\\"b\\n\\u00e9"
                 "0123456789012345678901234567890123456789\"}]}",
                 &jwks, err);

    ok = rc == 0 && jwks.nkeys == 0 && jwks.skipped == 1
         && strncmp(jwks.skip_reason, "key 0 (kid \"a?b???0123", 22) == 0
         && strstr(jwks.skip_reason, "...\"): unsupported \"kty\"") != NULL;

    t_diag("%s", rc == 0 ? jwks.skip_reason : err);

    if (rc == 0) {
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "kid in skip reason is sanitized and cut");

    /* key members of the wrong JSON types */

    rc = t_parse("{\"keys\":[1,[],{\"kty\":1},{\"kty\":\"oct\",\"k\":1},"
                 "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"use\":1},"
                 "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"key_ops\":\"verify\"},"
                 "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":[\"HS256\"]},"
                 "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":7},"
                 "{\"kty\":\"oct\",\"k\":\"\"},"
                 "{\"kty\":\"oct\",\"k\":\"c2VjcmV0=\"},"
                 "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"none\"},"
                 "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"ES256\"},"
                 "{\"kty\":\"oct\",\"k\":\"" T_K48 "\",\"alg\":\"HS384\","
                 "\"use\":\"sig\",\"key_ops\":[\"sign\",\"verify\"]}]}",
                 &jwks, err);

    ok = rc == 0 && jwks.nkeys == 1 && jwks.skipped == 12 && jwks.weak == 0
         && jwks.keys[0].alg == MG_JWT_HS384
         && strcmp(jwks.skip_reason,
                   "key 11: \"alg\" does not match the key type or curve")
            == 0;

    if (ok) {
        ok = mg_jwk_fits(&jwks.keys[0], MG_JWT_HS384)
             && !mg_jwk_fits(&jwks.keys[0], MG_JWT_HS256);
    }

    if (rc == 0) {
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "members of the wrong types are skipped");

    /* weak keys: counted apart, the first one named, the others kept */

    rc = t_parse("{\"keys\":["
                 "{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"c2VjcmV0\"},"
                 "{\"kty\":\"oct\",\"k\":\"" T_K32 "\"},"
                 "{\"kty\":\"nope\"},"
                 "{\"kty\":\"oct\",\"kid\":\"b\",\"alg\":\"HS384\","
                 "\"k\":\"" T_K32 "\"}]}",
                 &jwks, err);

    ok = rc == 0 && jwks.nkeys == 1 && jwks.skipped == 3 && jwks.weak == 2
         && strcmp(jwks.weak_reason, "key 0 (kid \"a\"): oct key of 6 bytes, "
                   "shorter than the 32 RFC 7518 requires") == 0
         && strcmp(jwks.skip_reason, "key 3 (kid \"b\"): oct key of 32 "
                   "bytes, shorter than the 48 RFC 7518 requires for HS384")
            == 0
         && mg_jwk_fits(&jwks.keys[0], MG_JWT_HS256)
         && !mg_jwk_fits(&jwks.keys[0], MG_JWT_HS384);

    t_diag("%s", rc == 0 ? jwks.weak_reason : err);

    if (rc == 0) {
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "weak keys counted apart, the first one named");

    /*
     * A key too short for its algorithm verifies nothing, even a right
     * tag, whoever built the key: mg_jws_verify() checks again.
     */

    memset(&rsa, 0, sizeof(mg_jwk_t));
    memset(sig, 0x5a, sizeof(sig));
    rsa.kty = MG_JWK_OCT;
    rsa.secret.data = sig;
    rsa.secret.len = 31;

    ok = HMAC(EVP_sha256(), sig, 31, (unsigned char *) "x", 1, sig + 64,
              &tag_len)
         != NULL
         && !mg_jwk_fits(&rsa, MG_JWT_HS256)
         && mg_jws_verify(MG_JWT_HS256, &rsa, (unsigned char *) "x", 1,
                          sig + 64, tag_len)
            == MG_JWS_INVALID;

    rsa.secret.len = 32;

    ok = ok
         && HMAC(EVP_sha256(), sig, 32, (unsigned char *) "x", 1, sig + 64,
                 &tag_len)
            != NULL
         && mg_jws_verify(MG_JWT_HS256, &rsa, (unsigned char *) "x", 1,
                          sig + 64, tag_len)
            == MG_JWS_VALID;

    t_ok(ok, "%s", "a 31-byte oct key verifies nothing, a 32-byte one does");

    /* an RSA modulus too large for OpenSSL to verify with */

    /* 171 zero digits and a 1: 128 bytes, the last of them 1 */

    memcpy(doc, "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"", 29);
    memset(doc + 29, 'A', 171);
    memcpy(doc + 200, "B\"}", 4);

    rc = t_parse(doc, &jwks, err);

    ok = rc == 0 && jwks.nkeys == 0 && jwks.skipped == 1
         && strstr(jwks.skip_reason, "RSA modulus of 1 bits") != NULL;

    t_diag("%s", rc == 0 ? jwks.skip_reason : err);

    t_ok(ok, "%s", "tiny RSA modulus behind leading zeros");

    /* an algorithm outside the enum, and an empty key */

    memset(&rsa, 0, sizeof(mg_jwk_t));
    memset(sig, 0, sizeof(sig));
    rsa.kty = MG_JWK_RSA;

    ok = !mg_jwk_fits(&rsa, MG_JWT_ALG_UNKNOWN)
         && !mg_jwk_fits(&rsa, (mg_jwt_alg_e) 99)
         && mg_jws_verify(MG_JWT_ALG_UNKNOWN, &rsa, (unsigned char *) "x", 1,
                          sig, 0)
            == MG_JWS_INVALID
         && mg_jws_verify(MG_JWT_RS256, &rsa, (unsigned char *) "x", 1,
                          sig, 256)
            == MG_JWS_INVALID;

    t_ok(ok, "%s", "unknown alg and key without pkey are invalid");
}


/*
 * What the document as a whole must be: strict JSON, no duplicate member
 * names, nesting up to 32 deep, and none of the values parsers disagree
 * about (a NUL character in a string, a number out of range).
 */

static void
t_json(void)
{
    int         rc, ok;
    size_t      i, n;
    char       *doc, err[256];
    mg_jwks_t   jwks;

    static const t_doc_t  docs[] = {
        { "\\u0000 in a member value",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"x\":\"a\\u0000\"}",
          -1, 0, "not a JWK or JWK Set: NUL character" },
        { "\\u0000 in a member name",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"\\u0000\":1}",
          -1, 0, "NUL character" },
        { "\\u0000 in the kid of a skipped key",
          "{\"keys\":[{\"kty\":\"no\",\"kid\":\"\\u0000\"}]}",
          -1, 0, "NUL character" },
        { "escaped LF and a written-out \\\\u0000 are no NUL",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"x\":\"\\\\u0000\\n\"}",
          0, 1, NULL },
        { "integers at the limits of int64_t",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"x\":9223372036854775807,"
          "\"y\":-9223372036854775808,\"z\":[0,-0,1.5e3]}",
          0, 1, NULL },
        { "integer above int64_t",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"x\":9223372036854775808}",
          -1, 0, "not a JWK or JWK Set: number out of range" },
        { "integer below int64_t",
          "{\"keys\":[],\"x\":-9223372036854775809}",
          -1, 0, "number out of range" },
        { "real as large as a double may be",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"x\":1e308,\"y\":1e-400}",
          0, 1, NULL },
        { "real beyond a double",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"x\":[-1e309]}",
          -1, 0, "number out of range" },
        { "duplicate member name written with an escape",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"\\u006b\":\"x\"}",
          -1, 0, "not a JWK or JWK Set: duplicate member name" },
        { "duplicate member name in a member no key uses",
          "{\"keys\":[{\"kty\":\"oct\",\"k\":\"" T_K32 "\","
          "\"x\":{\"a\":1,\"a\":2}}]}",
          -1, 0, "duplicate member name" },
        { "invalid UTF-8",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"kid\":\"\xc0\xaf\"}",
          -1, 0, "not a JWK or JWK Set: invalid UTF-8" },
        { "UTF-8 encoded surrogate",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"kid\":\"\xed\xa0\x80\"}",
          -1, 0, "invalid UTF-8" },
        { "unpaired surrogate escape",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\",\"kid\":\"\\udc00\"}",
          -1, 0, "not a JWK or JWK Set: invalid JSON" },
        { "trailing data",
          "{\"kty\":\"oct\",\"k\":\"" T_K32 "\"}x",
          -1, 0, "not a JWK or JWK Set: trailing data" },
        { "where a document is wrong: line and column",
          "{\"keys\":[\n  {\"kty\":\"oct\",\n   \"k\" \"x\"}]}",
          -1, 0, "expected \":\" (line 3, column 8)" },
        { "JSON white space around",
          " \t\r\n{\"kty\":\"oct\",\"k\":\"" T_K32 "\"}\n",
          0, 1, NULL },
        { NULL, NULL, 0, 0, NULL }
    };

    for (i = 0; docs[i].name != NULL; i++) {
        rc = t_parse(docs[i].doc, &jwks, err);

        if (rc == 0) {
            ok = docs[i].rc == 0 && jwks.nkeys == docs[i].nkeys;
            mg_jwks_free(&jwks);

        } else {
            ok = docs[i].rc == -1 && strstr(err, docs[i].text) != NULL;
            t_diag("%s", err);
        }

        t_ok(ok, "document: %s", docs[i].name);
    }

    /* nesting: 32 levels, then 33; a number of 255 characters, then 256 */

    doc = malloc(1024);
    if (doc == NULL) {
        t_ok(0, "%s", "malloc");
        return;
    }

    for (n = 32; n <= 33; n++) {
        memcpy(doc, "{\"keys\":[],\"x\":", 15);
        memset(doc + 15, '[', n - 1);
        memset(doc + 15 + n - 1, ']', n - 1);
        memcpy(doc + 15 + 2 * (n - 1), "}", 2);

        rc = t_parse(doc, &jwks, err);

        if (rc == 0) {
            mg_jwks_free(&jwks);
        }

        t_diag("%zu levels: %s", n, rc == 0 ? "accepted" : err);

        t_ok(n == 32 ? rc == 0
                     : rc == -1 && strstr(err, "nesting too deep") != NULL,
             "%s", n == 32 ? "nesting 32 levels deep"
                           : "nesting 33 levels deep is refused");
    }

    for (n = 255; n <= 256; n++) {
        memcpy(doc, "{\"keys\":[],\"x\":0.", 17);
        memset(doc + 17, '0', n - 3);
        memcpy(doc + 17 + n - 3, "1}", 3);

        rc = t_parse(doc, &jwks, err);

        if (rc == 0) {
            mg_jwks_free(&jwks);
        }

        t_ok(n == 255 ? rc == 0
                      : rc == -1 && strstr(err, "number out of range") != NULL,
             "%s", n == 255 ? "number of 255 characters"
                            : "number of 256 characters is refused");
    }

    free(doc);
}


/* members are compared and used unescaped, however they are written */

static void
t_escapes(void)
{
    int         rc, ok;
    char        err[256];
    mg_jwks_t   jwks;

    /* T_K32 with its first character, 'M', escaped */

    rc = t_parse("{\"kty\":\"\\u006fct\",\"alg\":\"HS\\u0032\\u00356\","
                 "\"use\":\"s\\u0069g\",\"key_ops\":[\"\\u0076erify\"],"
                 "\"kid\":\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\","
                 "\"k\":\"\\u004dDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}",
                 &jwks, err);

    ok = rc == 0 && jwks.nkeys == 1
         && jwks.keys[0].kty == MG_JWK_OCT
         && jwks.keys[0].alg == MG_JWT_HS256
         && jwks.keys[0].secret.len == 32
         && memcmp(jwks.keys[0].secret.data,
                   "0123456789abcdef0123456789abcdef", 32) == 0
         && jwks.keys[0].kid.len == 9
         && memcmp(jwks.keys[0].kid.data, "\xc3\xa9\xf0\x9f\x98\x80\"\\/", 9)
            == 0;

    t_diag("%s", rc == 0 ? "parsed" : err);

    if (rc == 0) {
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "escaped kty, alg, use, key_ops, kid and k");

    /* a surrogate pair across the 32 characters a skip reason shows */

    rc = t_parse("{\"keys\":[{\"kty\":\"no\",\"kid\":"
                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\ud83d\\ude00bbbb\"},"
                 "{\"kty\":\"OKP\",\"crv\":\"X\\u00325519\",\"x\":\"AA\"}]}",
                 &jwks, err);

    ok = rc == 0 && jwks.nkeys == 0 && jwks.skipped == 2;

    if (ok) {
        t_diag("%s", jwks.skip_reason);

        ok = strcmp(jwks.skip_reason, "key 1: \"crv\" X25519 is for key "
                    "agreement, not signatures") == 0;
    }

    if (rc == 0) {
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "escaped crv named in the skip reason");

    rc = t_parse("{\"keys\":[{\"kty\":\"no\",\"kid\":"
                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\ud83d\\ude00bbbb\"}]}",
                 &jwks, err);

    ok = rc == 0 && jwks.skipped == 1
         && strcmp(jwks.skip_reason, "key 0 (kid \"aaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaa?...\"): unsupported \"kty\"") == 0;

    t_diag("%s", rc == 0 ? jwks.skip_reason : err);

    if (rc == 0) {
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "kid cut inside a surrogate pair in the skip reason");
}


/*
 * What a parsed set keeps, against the scratch memory of the parse: the
 * tokens of a document of tiny values take 20 bytes a value, the set
 * must keep only its keys.
 */

static void
t_scratch(void)
{
    int         rc, ok;
    char       *doc, err[256];
    size_t      i, n, len, tmp;
    mg_jwks_t   jwks;

    /* n values; the set keeps nkeys keys, each with kid "k1" */

    static const struct {
        const char  *name;
        const char  *head;
        const char  *value;
        size_t       n;
        const char  *tail;
        int          rc;
        size_t       nkeys;
        size_t       skipped;
        size_t       weak;
    } docs[] = {
        { "tiny values beside a key",
          "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k1\",\"k\":\"" T_K32 "\"}],"
          "\"x\":[", "0", 100000, "]}", 0, 1, 0, 0 },
        { "tiny elements of \"keys\" that are no keys",
          "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k1\",\"k\":\"" T_K32 "\"},",
          "0", 100000, "]}", 0, 1, 100000, 0 },
        { "weak keys with escaped kids",
          "{\"keys\":[",
          "{\"kty\":\"oct\",\"kid\":\"\\u006b\\u0031\",\"k\":\"" T_K32 "\","
          "\"alg\":\"HS512\"}", 10000, "]}", 0, 0, 10000, 10000 },
        { "tiny values, refused at the end",
          "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k1\",\"k\":\"" T_K32 "\"}],"
          "\"x\":[", "0", 100000, "],\"y\":\"\\u0000\"}", -1, 0, 0, 0 },
        { NULL, NULL, NULL, 0, NULL, 0, 0, 0, 0 }
    };

    /* a key kept costs the set its entry, its kid and its secret */

    rc = t_parse("{\"kty\":\"oct\",\"kid\":\"\\u006b1\",\"k\":\"" T_K32 "\","
                 "\"x\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}", &jwks, err);

    ok = rc == 0 && jwks.nkeys == 1
         && t_set.size == sizeof(mg_jwk_t) + 2 + 32
         && jwks.keys[0].kid.len == 2
         && memcmp(jwks.keys[0].kid.data, "k1", 2) == 0
         && jwks.keys[0].secret.len == 32
         && memcmp(jwks.keys[0].secret.data,
                   "0123456789abcdef0123456789abcdef", 32) == 0;

    t_diag("the set keeps %zu bytes", t_set.size);

    if (rc == 0) {
        mg_jwks_free(&jwks);
    }

    t_ok(ok, "%s", "the set keeps its key, kid and secret, and no more");

    t_free_all();

    for (i = 0; docs[i].name != NULL; i++) {
        n = docs[i].n;

        doc = t_tiny_values(docs[i].head, docs[i].value, n, docs[i].tail,
                            &len);
        if (doc == NULL) {
            t_ok(0, "%s (setup)", docs[i].name);
            continue;
        }

        tmp = t_tmp.size;

        rc = mg_jwks_parse(&jwks, (unsigned char *) doc, len, &t_allocator,
                           &t_scratch_allocator, err, sizeof(err));

        tmp = t_tmp.size - tmp;

        t_release(&t_tmp);

        t_diag("%s: %zu bytes, %zu values: %zu bytes of scratch, %zu kept",
               docs[i].name, len, n, tmp, t_set.size);

        if (rc == 0) {
            ok = docs[i].rc == 0 && jwks.nkeys == docs[i].nkeys
                 && jwks.skipped == docs[i].skipped
                 && jwks.weak == docs[i].weak
                 && (jwks.nkeys == 0
                     || (jwks.keys[0].kid.len == 2
                         && memcmp(jwks.keys[0].kid.data, "k1", 2) == 0));

            mg_jwks_free(&jwks);

        } else {
            ok = docs[i].rc == -1;
            t_diag("%s", err);
        }

        /* the tokens are scratch: the measure measures them */

        ok = ok && tmp >= 20 * n
             && t_set.size <= docs[i].nkeys * (sizeof(mg_jwk_t) + 2 + 32);

        t_ok(ok, "%s: the set keeps none of the scratch", docs[i].name);

        t_free_all();
    }
}


/* head, n times value separated by commas, and tail, in t_tmp */

static char *
t_tiny_values(const char *head, const char *value, size_t n,
    const char *tail, size_t *len)
{
    char    *doc, *p;
    size_t   i, hlen, vlen, tlen;

    hlen = strlen(head);
    vlen = strlen(value);
    tlen = strlen(tail);

    *len = hlen + n * (vlen + 1) - 1 + tlen;

    doc = t_alloc(&t_tmp, *len);
    if (doc == NULL) {
        return NULL;
    }

    p = doc;

    memcpy(p, head, hlen);
    p += hlen;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        memcpy(p, value, vlen);
        p += vlen;
    }

    memcpy(p, tail, tlen);

    return doc;
}
