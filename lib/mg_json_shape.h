
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: reshaping parsed JSON (mg_json.h) without building a tree.
 *
 * Everything here works on the tokens of mg_json_parse() and writes values
 * as they were written (compacted where said), so nothing is converted
 * back and forth.  A path is a list of member names, "data.items"; a
 * fields list is several paths, "id,price.amount".
 *
 * Names in paths are compared with the unescaped member names of the
 * document.  They cannot contain ".", "," or control characters, and are
 * never empty.  Where an object has a name twice, the last member counts,
 * as in JavaScript's JSON.parse().
 */


#ifndef _MG_JSON_SHAPE_H_INCLUDED_
#define _MG_JSON_SHAPE_H_INCLUDED_


#include "mg_common.h"
#include "mg_json.h"


typedef struct {
    mg_str_t             *names;
    uint32_t              n;
} mg_json_path_t;


/*
 * A fields list as a tree: a node without children keeps the whole value
 * of its member, a node with children keeps only those members of it.
 * The root has no name.
 */
typedef struct mg_json_fields_s  mg_json_fields_t;

struct mg_json_fields_s {
    mg_str_t              name;
    mg_json_fields_t     *child;
    mg_json_fields_t     *next;
};


typedef struct {
    mg_str_t              name;     /* unescaped */
    mg_str_t              key;      /* as written, with its quotes */
    mg_str_t              value;    /* as written */
} mg_json_member_t;


typedef struct {
    mg_json_member_t     *members;
    uint32_t              n;
} mg_json_members_t;


/*
 * Compile "a.b.c" and "a,b.c,d" (at configuration time).  They return 0,
 * or -1 with *err set to a static message.
 */
int mg_json_path_compile(mg_json_path_t *path, const unsigned char *s,
    size_t len, mg_allocator_t *a, const char **err);
int mg_json_fields_compile(mg_json_fields_t *fields, const unsigned char *s,
    size_t len, mg_allocator_t *a, const char **err);

/*
 * The token the path leads to from value i, or -1.  In an object a name
 * selects a member; in an array a decimal number selects an element
 * ("items.0.id").
 */
int32_t mg_json_path_get(const mg_json_t *json, uint32_t i,
    const mg_json_path_t *path);

/*
 * Writes value i, an object or an array, compacted and with only the
 * members the fields name: "a,b.c" keeps {"a": ..., "b": {"c": ...}} and
 * drops the rest.  An array is filtered element by element, so "items.id"
 * keeps the "id" of every object of "items"; scalars in such an array go.
 * A name that is not there is left out; an object or array on the way to
 * one is kept, possibly empty.  dst needs (end - start) bytes of value i:
 * the result is never longer.  Returns -1 if value i is a scalar.
 */
int mg_json_fields_write(const mg_json_t *json, uint32_t i,
    const mg_json_fields_t *fields, unsigned char *dst, size_t *len);

/* the members of object token obj, their names unescaped */
int mg_json_members(const mg_json_t *json, uint32_t obj,
    mg_json_members_t *members, mg_allocator_t *a);

/*
 * The shallow union of objects: every name once, where it first appears,
 * with the value of its last member (Object.assign() in JavaScript).
 * dst needs mg_json_merge_size() bytes.  Returns 0, or -1 when out of
 * memory.
 */
size_t mg_json_merge_size(const mg_json_members_t *objs, size_t n);
int mg_json_merge(const mg_json_members_t *objs, size_t n,
    unsigned char *dst, size_t *len, mg_allocator_t *a);

/*
 * What a scalar stands for as text: a string unescaped, a number, true or
 * false as written.  dst needs (end - start) bytes of token i.  Returns -1
 * for null, objects and arrays.
 */
int mg_json_text(const mg_json_t *json, uint32_t i, unsigned char *dst,
    size_t *len);


#endif /* _MG_JSON_SHAPE_H_INCLUDED_ */
