
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: JWT authentication, the parts of the module its files share.
 */


#ifndef _NGX_HTTP_AUTH_JWT_MODULE_H_INCLUDED_
#define _NGX_HTTP_AUTH_JWT_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_meshgate.h"
#include "mg_jwt.h"
#include "mg_jwk.h"
#include "mg_jws.h"


/* a token naming an unknown kid refreshes fetched keys at most this often */
#define NGX_HTTP_AUTH_JWT_KID_REFRESH  5000

/* key sets a worker keeps per auth_jwt_key_request, least recently used out */
#define NGX_HTTP_AUTH_JWT_KEY_SETS     64

/* verified signatures are remembered at most this long past verification */
#define NGX_HTTP_AUTH_JWT_CACHE_TTL    600
#define NGX_HTTP_AUTH_JWT_CACHE_SIZE   1024


/*
 * The keys of one place: a key file, or what one key request fetched from
 * one evaluated uri in one server.  A fetched set lives in a pool of its
 * own, with the set itself and its uri; a new fetch makes a new set.
 */
typedef struct {
    mg_jwks_t                  *jwks;
    ngx_pool_t                 *pool;       /* NULL: a key file's */
    ngx_http_core_srv_conf_t   *server;
    ngx_str_t                   uri;        /* with its arguments */
    ngx_queue_t                 queue;      /* in its source's sets */

    /* unique in a worker: tells a set from one made later in its place */
    ngx_uint_t                  generation;

    ngx_msec_t                  fetched;
    ngx_msec_t                  expires;

    unsigned                    temporary:1; /* auth_jwt_key_cache 0 */
} ngx_http_auth_jwt_set_t;


/* one source of keys: a JWKS file, or JWKS fetched from a location */
typedef struct {
    ngx_http_auth_jwt_set_t    *file;       /* a key file's keys */
    ngx_http_complex_value_t   *uri;        /* a key request's */

    /*
     * Fetched sets are per worker, most recently used first: each worker
     * owns its copy of the configuration, so they need no locking.
     */
    ngx_queue_t                 sets;
    ngx_uint_t                  nsets;

    unsigned                    request:1;
} ngx_http_auth_jwt_keys_t;


typedef struct {
    ngx_array_t                 values;     /* ngx_http_complex_value_t */
    ngx_uint_t                  status;
} ngx_http_auth_jwt_require_t;


typedef struct {
    ngx_http_complex_value_t   *realm;      /* NULL: off */
    ngx_http_complex_value_t   *token;      /* NULL: Authorization */
    ngx_array_t                *keys;       /* ngx_http_auth_jwt_keys_t * */
    ngx_array_t                *require;    /* ngx_http_auth_jwt_require_t */
    ngx_msec_t                  key_cache;
    time_t                      leeway;

    u_char                     *file;       /* where auth_jwt was set */
    ngx_uint_t                  line;
} ngx_http_auth_jwt_loc_conf_t;


/* the cache keeps tokens up to this size, the longest usual ones */
#define NGX_HTTP_AUTH_JWT_CACHE_TOKEN  1984


typedef struct {
    ngx_http_auth_jwt_set_t    *set;        /* the keys that verified it */
    ngx_uint_t                  generation; /* and their generation */
    time_t                      expires;
    double                      exp;
    double                      nbf;
    uint32_t                    hash;
    uint16_t                    len;
    unsigned                    has_exp:1;
    unsigned                    has_nbf:1;
    u_char                      token[NGX_HTTP_AUTH_JWT_CACHE_TOKEN];
} ngx_http_auth_jwt_cache_node_t;


typedef struct {
    ngx_http_auth_jwt_cache_node_t  *cache;  /* per worker */
    ngx_uint_t                  used;       /* auth_jwt appears somewhere */
} ngx_http_auth_jwt_main_conf_t;


typedef struct {
    ngx_str_t                     token;
    mg_jwt_t                      jwt;      /* exp and nbf only, until parsed */
    const char                   *reason;   /* why the token is invalid */
    ngx_int_t                     status;   /* the answer, once done */
    ngx_http_auth_jwt_loc_conf_t *alcf;     /* the location that checked */

    ngx_http_request_t           *subrequest;
    ngx_http_meshgate_capture_t  *body;     /* of the key request */
    ngx_http_auth_jwt_keys_t     *fetching;
    ngx_str_t                     uri;      /* where it fetches from */
    ngx_uint_t                    next;     /* key source to look at next */

    unsigned                      done:1;
    unsigned                      parsed:1;
    unsigned                      verified:1;
    unsigned                      fetched:1; /* the subrequest has ended */
    unsigned                      refreshed:1;
    unsigned                      named:1;  /* a key has the token's kid */
    unsigned                      fit:1;    /* a key fits the token's alg */
} ngx_http_auth_jwt_ctx_t;


/* the verified token of the main request, or NULL */
mg_jwt_t *ngx_http_auth_jwt_claims(ngx_http_request_t *r);

ngx_int_t ngx_http_auth_jwt_add_variables(ngx_conf_t *cf);
char *ngx_http_auth_jwt_claim_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

char *ngx_http_auth_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_auth_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * Tries the token's signature with the keys of every source in turn,
 * fetching keys as needed: NGX_OK (verified), NGX_DECLINED (ctx->reason
 * says why not), NGX_AGAIN (a key request is under way), or NGX_ERROR
 * (keys cannot be obtained, or OpenSSL failed).
 */
ngx_int_t ngx_http_auth_jwt_verify(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx);

/*
 * The keys a source holds for this request, without fetching: NULL if a
 * key request has none, or only expired ones.
 */
ngx_http_auth_jwt_set_t *ngx_http_auth_jwt_current_set(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_keys_t *keys);

ngx_int_t ngx_http_auth_jwt_cache_init(ngx_cycle_t *cycle,
    ngx_http_auth_jwt_main_conf_t *amcf);
ngx_http_auth_jwt_cache_node_t *ngx_http_auth_jwt_cache_lookup(
    ngx_http_auth_jwt_main_conf_t *amcf, ngx_str_t *token);
void ngx_http_auth_jwt_cache_store(ngx_http_auth_jwt_main_conf_t *amcf,
    ngx_str_t *token, ngx_http_auth_jwt_set_t *set, mg_jwt_t *jwt,
    time_t leeway);

extern ngx_module_t  ngx_http_auth_jwt_module;


#endif /* _NGX_HTTP_AUTH_JWT_MODULE_H_INCLUDED_ */
