
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: a strict RFC 8259 JSON tokenizer.
 *
 * The parser does not build a tree: it fills a flat array of tokens that
 * point into the input, so that values can be handed out exactly as they
 * were written (numbers keep their text) and skipped in O(1).  An object
 * token is followed by its members, each a key (a string token) and then a
 * value; an array token by its elements.  "next" is the index of the token
 * that follows a value and all of its children.
 *
 * Strictness: one top-level value, surrounded only by JSON white space;
 * strings are valid UTF-8 (no overlongs, no surrogates, nothing above
 * U+10FFFF) with only JSON escapes, and a \u escape that encodes a
 * surrogate must be a valid pair; numbers follow the RFC grammar; nesting
 * is bounded by max_depth.
 */


#ifndef _MG_JSON_H_INCLUDED_
#define _MG_JSON_H_INCLUDED_


#include "mg_common.h"


typedef enum {
    MG_JSON_OBJECT = 1,
    MG_JSON_ARRAY,
    MG_JSON_STRING,
    MG_JSON_NUMBER,
    MG_JSON_TRUE,
    MG_JSON_FALSE,
    MG_JSON_NULL
} mg_json_type_e;


/* a string holds escapes; unescape it before comparing or handing it out */
#define MG_JSON_ESCAPED      0x01

/* an unescaped string would contain CR, LF or NUL */
#define MG_JSON_CTL          0x02


typedef struct {
    uint32_t              start;  /* first byte; a string's opening quote */
    uint32_t              end;    /* one past the last byte */
    uint32_t              size;   /* members of an object, elements of an
                                     array, 0 otherwise */
    uint32_t              next;
    uint8_t               type;   /* mg_json_type_e */
    uint8_t               flags;
} mg_json_tok_t;


typedef struct {
    const unsigned char  *buf;
    size_t                len;
    mg_json_tok_t        *toks;
    uint32_t              ntoks;
    size_t                error_pos;  /* where a failed parse stopped */
} mg_json_t;


/* options of mg_json_parse() */
#define MG_JSON_UNIQUE_KEYS  0x01   /* reject duplicate keys in any object */
#define MG_JSON_VALIDATE     0x02   /* only check the text, keep no tokens */


/*
 * Parses buf into json->toks (allocated with the allocator, at most
 * max_toks tokens).  Returns 0, or -1 with *err set to a static message
 * and json->error_pos to the offset in buf where the parse stopped, so
 * that a caller can say where a file is wrong.
 *
 * The tokens allocated are those the text holds (a first pass counts
 * them), not what a text of that length could hold: a long string costs
 * one token, not one per two bytes.
 *
 * With MG_JSON_VALIDATE the text is checked exactly as otherwise, but no
 * token is kept: json->toks is NULL and json->ntoks the number of values
 * (still bounded by max_toks); only the nesting (max_depth) takes memory.
 * It cannot be combined with MG_JSON_UNIQUE_KEYS, which needs the tokens.
 */
int mg_json_parse(mg_json_t *json, const unsigned char *buf, size_t len,
    unsigned options, uint32_t max_toks, unsigned max_depth,
    mg_allocator_t *a, const char **err);

/*
 * Index of the member value named name (compared unescaped) in object
 * token obj, or -1; the first one if a name repeats.
 */
int32_t mg_json_object_get(const mg_json_t *json, uint32_t obj,
    const unsigned char *name, size_t len);

/*
 * Writes the unescaped contents of string token i (without quotes) to dst,
 * which needs (end - start) bytes; returns the length written.
 */
size_t mg_json_string(const mg_json_t *json, uint32_t i, unsigned char *dst);

/* compares the unescaped string token i with s */
int mg_json_string_eq(const mg_json_t *json, uint32_t i,
    const unsigned char *s, size_t len);

/*
 * Parses number token i; returns 0, or -1 if it is not a number, if its
 * text is longer than 255 bytes or if it overflows a double.
 */
int mg_json_number(const mg_json_t *json, uint32_t i, double *value);

/*
 * Writes value i without insignificant white space to dst, which needs
 * (end - start) bytes; returns the length written.
 */
size_t mg_json_compact(const mg_json_t *json, uint32_t i, unsigned char *dst);


#endif /* _MG_JSON_H_INCLUDED_ */
