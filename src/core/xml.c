/* The expat-based XML tree and XML escaping. */
#include "core/xml.h"

#include <expat.h>
#include <stdio.h>
#include <string.h>

struct xml_build {
    XML_Parser parser;
    struct sl_arena *a;
    struct sl_xml_node *root, *cur;
    /* The text of each open element, copied into the arena once, when the
     * element ends (copying at every flush would be quadratic). */
    struct sl_buf text[SL_XML_MAX_DEPTH + 1];
    int depth;
    size_t nodes;
    const char *fail; /* our own reason for stopping */
};

static void stop(struct xml_build *b, const char *why)
{
    if (!b->fail)
        b->fail = why;
    XML_StopParser(b->parser, XML_FALSE);
}

static const char *local_name(const char *name)
{
    const char *colon = strrchr(name, ':');
    return colon ? colon + 1 : name;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct xml_build *b = ud;
    if (b->fail)
        return;
    if (b->depth + 1 > SL_XML_MAX_DEPTH) {
        stop(b, "document nested too deeply");
        return;
    }
    if (++b->nodes > SL_XML_MAX_NODES) {
        stop(b, "document has too many elements");
        return;
    }
    struct sl_xml_node *n = sl_arena_alloc(b->a, sizeof(*n));
    const char *nm = n ? sl_arena_strdup(b->a, local_name(name)) : NULL;
    if (!n || !nm) {
        stop(b, "document too large");
        return;
    }
    b->depth++;
    sl_buf_reset(&b->text[b->depth]);
    n->name = nm;
    n->text = "";
    n->parent = b->cur;
    if (b->cur) {
        if (b->cur->last_child)
            b->cur->last_child->next = n;
        else
            b->cur->children = n;
        b->cur->last_child = n;
    } else {
        b->root = n;
    }
    b->cur = n;
}

static void on_end(void *ud, const XML_Char *name)
{
    (void)name;
    struct xml_build *b = ud;
    if (b->fail || !b->cur)
        return;
    struct sl_buf *t = &b->text[b->depth];
    if (t->len) {
        char *copy = sl_arena_strndup(b->a, t->data, t->len);
        if (!copy) {
            stop(b, "document too large");
            return;
        }
        b->cur->text = copy;
        b->cur->text_len = t->len;
    }
    b->depth--;
    b->cur = b->cur->parent;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    struct xml_build *b = ud;
    if (!b->fail && b->cur && sl_buf_append(&b->text[b->depth], s, (size_t)len))
        stop(b, "text too large");
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                       const XML_Char *pubid, int has_internal)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal;
    stop(ud, "DOCTYPE is not allowed");
}

int sl_xml_parse(struct sl_arena *a, const char *data, size_t len, struct sl_xml_node **root,
                 struct sl_err *err)
{
    struct xml_build b = {.a = a};
    for (int i = 0; i <= SL_XML_MAX_DEPTH; i++)
        sl_buf_init(&b.text[i], len + 1);
    b.parser = XML_ParserCreate("UTF-8");
    if (!b.parser)
        return sl_errf(err, SL_ENOMEM, "out of memory");
    XML_SetUserData(b.parser, &b);
    XML_SetElementHandler(b.parser, on_start, on_end);
    XML_SetCharacterDataHandler(b.parser, on_text);
    XML_SetStartDoctypeDeclHandler(b.parser, on_doctype);
    int rc = 0;
    if (len > (size_t)INT32_MAX) {
        rc = sl_errf(err, SL_ETOOBIG, "document too large");
    } else if (XML_Parse(b.parser, data, (int)len, XML_TRUE) != XML_STATUS_OK) {
        if (b.fail)
            rc = sl_errf(err, SL_EINVAL, "%s", b.fail);
        else
            rc = sl_errf(err, SL_EINVAL, "%s at line %lu, column %lu",
                         XML_ErrorString(XML_GetErrorCode(b.parser)),
                         (unsigned long)XML_GetCurrentLineNumber(b.parser),
                         (unsigned long)XML_GetCurrentColumnNumber(b.parser));
    } else if (!b.root) {
        rc = sl_errf(err, SL_EINVAL, "no root element");
    }
    XML_ParserFree(b.parser);
    for (int i = 0; i <= SL_XML_MAX_DEPTH; i++)
        sl_buf_free(&b.text[i]);
    if (!rc)
        *root = b.root;
    return rc;
}

struct sl_xml_node *sl_xml_child(const struct sl_xml_node *n, const char *name)
{
    for (struct sl_xml_node *c = n ? n->children : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const char *sl_xml_child_text(const struct sl_xml_node *n, const char *name)
{
    struct sl_xml_node *c = sl_xml_child(n, name);
    return c ? c->text : NULL;
}

int sl_xml_escape(struct sl_buf *b, const char *s)
{
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        switch (*p) {
        case '&':
            rc = sl_buf_puts(b, "&amp;");
            break;
        case '<':
            rc = sl_buf_puts(b, "&lt;");
            break;
        case '>':
            rc = sl_buf_puts(b, "&gt;");
            break;
        case '"':
            rc = sl_buf_puts(b, "&quot;");
            break;
        case '\'':
            rc = sl_buf_puts(b, "&apos;");
            break;
        default:
            if (*p < 0x20 && *p != '\t')
                rc = sl_buf_printf(b, "&#x%X;", *p);
            else
                rc = sl_buf_putc(b, (char)*p);
        }
    }
    return rc;
}

int sl_xml_element(struct sl_buf *b, const char *name, const char *text)
{
    int rc = sl_buf_printf(b, "<%s>", name);
    if (!rc)
        rc = sl_xml_escape(b, text);
    if (!rc)
        rc = sl_buf_printf(b, "</%s>", name);
    return rc;
}
