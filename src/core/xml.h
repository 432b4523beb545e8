/*
 * A small XML tree built with expat, for the request bodies of rest-xml and
 * the responses we parse in tests; and escaping for writing XML. Documents
 * with a DOCTYPE are refused (no entity expansion at all), depth and size
 * are capped, everything lives in the caller's arena.
 */
#ifndef SL_CORE_XML_H
#define SL_CORE_XML_H

#include "core/core.h"

struct sl_xml_node {
    const char *name; /* local name, namespace prefix dropped */
    char *text;       /* concatenated character data, never NULL */
    size_t text_len;
    struct sl_xml_node *parent, *children, *last_child, *next;
};

#define SL_XML_MAX_DEPTH 32
/* Elements in one document (CompleteMultipartUpload lists up to 10,000
 * parts of three elements each). */
#define SL_XML_MAX_NODES 40000

/* Parses data into a tree allocated from a. On malformed input returns
 * SL_EINVAL with expat's description (line, column) in err. */
int sl_xml_parse(struct sl_arena *a, const char *data, size_t len, struct sl_xml_node **root,
                 struct sl_err *err);
/* The first child named name, or NULL. */
struct sl_xml_node *sl_xml_child(const struct sl_xml_node *n, const char *name);
/* The text of the first child named name, or NULL. */
const char *sl_xml_child_text(const struct sl_xml_node *n, const char *name);
/* Appends s with &, <, >, ", ' and control characters escaped. */
int sl_xml_escape(struct sl_buf *b, const char *s);
/* Appends <name>escaped text</name>. */
int sl_xml_element(struct sl_buf *b, const char *name, const char *text);

#endif
