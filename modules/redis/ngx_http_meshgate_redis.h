
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the shared, non-blocking Redis client.
 *
 * Every module that talks to Redis goes through this interface.  A server
 * is declared once with "redis_server"; each worker keeps "connections="
 * persistent connections to it on nginx's own event loop, pipelines the
 * commands of all requests onto them, and parses replies with hiredis's
 * reply reader (never hiredis's blocking API).
 */


#ifndef _NGX_HTTP_MESHGATE_REDIS_H_INCLUDED_
#define _NGX_HTTP_MESHGATE_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/* redisReply is declared in hiredis.h (which includes read.h), not read.h */
#include <hiredis/hiredis.h>

#include "mg_resp.h"


typedef struct ngx_http_meshgate_redis_server_s
    ngx_http_meshgate_redis_server_t;
typedef struct ngx_http_meshgate_redis_cmd_s
    ngx_http_meshgate_redis_cmd_t;
typedef struct ngx_http_meshgate_redis_script_s
    ngx_http_meshgate_redis_script_t;


/* every reply may have this many bytes: room for an error message */
#define NGX_HTTP_MESHGATE_REDIS_REPLY_MIN       4096

/* the bounds of a reply when the caller gives none */
#define NGX_HTTP_MESHGATE_REDIS_REPLY_SIZE      (64 * 1024)
#define NGX_HTTP_MESHGATE_REDIS_REPLY_ELEMENTS  1024


/*
 * The outcome of a command, as passed to its handler:
 *
 * NGX_OK         a reply arrived (it may be a Redis error reply:
 *                reply->type == REDIS_REPLY_ERROR);
 * NGX_ERROR      the connection failed or broke before the reply;
 * NGX_ABORT      the deadline ("timeout=") passed, or another command on
 *                the connection did and Redis has not answered since;
 *                a late reply is dropped.
 *
 * The reply belongs to the client and is freed when the handler returns.
 */
typedef void (*ngx_http_meshgate_redis_handler_pt)(void *data, ngx_int_t rc,
    redisReply *reply);


/*
 * Finds or creates a reference to a server by name, at configuration time.
 * Servers may be declared after they are referenced; a reference to a
 * server that is never declared fails the configuration, naming the
 * directive that made it (cf's current directive, file and line).
 */
ngx_http_meshgate_redis_server_t *ngx_http_meshgate_redis_server(
    ngx_conf_t *cf, ngx_str_t *name);

/* the server's name, for log messages */
ngx_str_t *ngx_http_meshgate_redis_server_name(
    ngx_http_meshgate_redis_server_t *server);

/*
 * Registers a Lua script at configuration time.  Its SHA1 is computed
 * then; every new connection loads the script (SCRIPT LOAD) after AUTH and
 * SELECT, and a NOSCRIPT reply to EVALSHA is answered by sending the script
 * again with EVAL, transparently to the caller.
 */
ngx_http_meshgate_redis_script_t *ngx_http_meshgate_redis_add_script(
    ngx_conf_t *cf, ngx_http_meshgate_redis_server_t *server,
    ngx_str_t *source);

/*
 * Queues a command; argv holds argc binary-safe strings that are copied
 * before the call returns.  limits bound the reply: what the command can
 * legitimately receive (see mg_resp.h); every reply may have at least
 * NGX_HTTP_MESHGATE_REDIS_REPLY_MIN bytes, so that an error reply always
 * fits.  NULL: NGX_HTTP_MESHGATE_REDIS_REPLY_SIZE bytes, arrays of
 * NGX_HTTP_MESHGATE_REDIS_REPLY_ELEMENTS, two levels deep.  A reply over
 * its bounds breaks the connection: it is dropped, and every command on it
 * fails with NGX_ERROR, as when Redis closes it.  Returns
 *
 * NGX_OK         the handler will be called exactly once, later, never
 *                from within this call, unless the command is cancelled;
 * NGX_DECLINED   the server is known to be down (reconnecting), or not to
 *                answer (a command timed out, and Redis has not answered
 *                the PING sent since): failing at once beats waiting for
 *                a timeout;
 * NGX_BUSY       too many commands are already waiting on the connection;
 * NGX_ERROR      no memory.
 *
 * *cmd identifies the command for ngx_http_meshgate_redis_cancel().
 */
ngx_int_t ngx_http_meshgate_redis_send(
    ngx_http_meshgate_redis_server_t *server, ngx_uint_t argc,
    ngx_str_t *argv, const mg_resp_limits_t *limits,
    ngx_http_meshgate_redis_handler_pt handler, void *data, ngx_log_t *log,
    ngx_http_meshgate_redis_cmd_t **cmd);

/* EVALSHA script numkeys keys... args..., with the NOSCRIPT fallback */
ngx_int_t ngx_http_meshgate_redis_eval(
    ngx_http_meshgate_redis_script_t *script, ngx_uint_t nkeys,
    ngx_str_t *keys, ngx_uint_t nargs, ngx_str_t *args,
    const mg_resp_limits_t *limits,
    ngx_http_meshgate_redis_handler_pt handler, void *data, ngx_log_t *log,
    ngx_http_meshgate_redis_cmd_t **cmd);

/*
 * The caller is gone (the request finished or was aborted): the handler
 * will not be called and the reply, when it comes, is dropped.  Command
 * objects are reused once their handler has run, so a caller forgets its
 * command pointer in its handler and never cancels after that.
 */
void ngx_http_meshgate_redis_cancel(ngx_http_meshgate_redis_cmd_t *cmd);

/* the server's per-command deadline ("timeout=") */
ngx_msec_t ngx_http_meshgate_redis_timeout(
    ngx_http_meshgate_redis_server_t *server);


extern ngx_module_t  ngx_http_meshgate_redis_module;


#endif /* _NGX_HTTP_MESHGATE_REDIS_H_INCLUDED_ */
