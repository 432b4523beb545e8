/* libFuzzer target: the XML tree parser that reads S3 request bodies. */
#include <stddef.h>
#include <stdint.h>

#include "core/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_arena a;
    sl_arena_init(&a, 1 << 24);
    struct sl_xml_node *root = NULL;
    struct sl_err err = {0};
    if (sl_xml_parse(&a, (const char *)data, size, &root, &err) == 0) {
        /* Walk the tree the way handlers do. */
        for (struct sl_xml_node *c = root->children; c; c = c->next)
            (void)sl_xml_child_text(c, "Key");
    }
    sl_arena_free(&a);
    return 0;
}
