/*
 * Rulesets (see ruleset.h). Building asks every pattern for its guards
 * (up to GUARDS of them, one per condition it ANDs, sl_pattern_guards)
 * twice: once to count how many patterns name each key, then with those
 * counts as prices. A pattern is filed under the keys of its first
 * (cheapest) guard, and of the others when the index decides it alone
 * (exact) or they are not much broader than the first. Keys are gathered
 * in a map keyed by their encoded bytes, then laid out for matching in
 * one arena:
 *
 *   - a trie of the field paths the keys name (node 0 is the event itself,
 *     a node's children sorted by name), each node with the kinds of key
 *     that end there, the lengths of its prefixes and suffixes, and the
 *     postings of a value being there at all;
 *   - one open-addressing hash table of (path node, kind, value) keys, each
 *     with its postings: (guard g, pattern r) as g * SHARD_RULES + r, in a
 *     run of 16-bit numbers or, for a key common to many patterns, as
 *     bitmaps to OR in;
 *   - per guard number g, a bitmap of the patterns without such a guard,
 *     and a bitmap of the exact patterns.
 *
 * Matching holds GUARDS bitmaps on its own stack: each starts as a copy of
 * the patterns that do not need guard g, the walk sets the bit of each
 * posting it finds, and a pattern is a candidate when its bit is set in
 * all of them: when the event holds a key of every guard it was filed
 * under. Bitmaps need no counting and no clearing of what was touched,
 * deduplicate for free and hand candidates out in order. The walk looks
 * at the paths of first guards first, and at the others only when some
 * pattern's first guard held. Candidates are confirmed with
 * sl_pattern_match, but for exact patterns. Patterns are cut into shards
 * of SHARD_RULES, each indexed on its own, so that the bitmaps have a
 * fixed size whatever the size of the ruleset; a ruleset of a few
 * thousand patterns is one shard.
 */
#include "engine/ruleset.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Patterns per shard, and guards per pattern: a match keeps GUARDS
 * bitmaps of SHARD_WORDS words (2 KiB in all) on its stack, and a posting
 * fits 16 bits. */
#define SHARD_RULES 4096
#define SHARD_WORDS (SHARD_RULES / 64)
#define GUARDS 4
/* A guard beyond the first is kept, for a pattern the index cannot decide
 * alone, when it costs at most this many times the first: a broader one
 * (say, a field most events have) costs more bits to set, on every event,
 * than the confirmations it saves. */
#define SPARE_GUARD_RATIO 4
_Static_assert(GUARDS * SHARD_RULES <= UINT16_MAX + 1, "postings are 16 bits");

#define KIND_BIT(k) (1u << (k))
#define STRING_KINDS                                                                 \
    (KIND_BIT(SL_PATTERN_KEY_STRING) | KIND_BIT(SL_PATTERN_KEY_PREFIX) |             \
     KIND_BIT(SL_PATTERN_KEY_PREFIX_IC) | KIND_BIT(SL_PATTERN_KEY_SUFFIX) |          \
     KIND_BIT(SL_PATTERN_KEY_SUFFIX_IC) | KIND_BIT(SL_PATTERN_KEY_EQUALS_IC))
#define FOLDED_KINDS                                                                 \
    (KIND_BIT(SL_PATTERN_KEY_PREFIX_IC) | KIND_BIT(SL_PATTERN_KEY_SUFFIX_IC) |       \
     KIND_BIT(SL_PATTERN_KEY_EQUALS_IC))

/* The kinds whose keys are looked up once per length (affixes), in the
 * order of struct pnode's lens. */
static const enum sl_pattern_key_kind affixes[] = {
    SL_PATTERN_KEY_PREFIX,
    SL_PATTERN_KEY_PREFIX_IC,
    SL_PATTERN_KEY_SUFFIX,
    SL_PATTERN_KEY_SUFFIX_IC,
};
#define NAFFIX SL_ARRAY_LEN(affixes)

/* Where the postings of a key are: postings[at..at + count), or, when
 * that is longer than the words it would set (a key common to many
 * patterns), bitmaps to OR in: nwords words for each guard in gmask, one
 * after the other from dense[at]. */
struct run {
    uint32_t at, count;
    uint32_t gmask;
    bool dense;
};

/* A key of the index and the patterns filed under it. */
struct entry {
    uint64_t hash; /* 0: an empty slot */
    const char *s; /* the string kinds: s[0..n), folded for the _IC ones */
    size_t n;
    double d; /* NUMBER */
    uint32_t node, kind;
    struct run run;
};

typedef uint16_t posting; /* guard * SHARD_RULES + pattern */

struct child {
    const char *key;
    size_t len;
    uint32_t node;
};

/* Matching walks an event in two stages: first the paths of the keys of
 * first guards (the cheapest), then, unless that left no pattern with its
 * first guard held, the paths of the others. A node's keys are looked at
 * in the first stage when one of them is some pattern's first guard's. */
#define STAGE_SELF(s) (1u << (2 * (s)))  /* its keys are looked at in stage s */
#define STAGE_BELOW(s) (2u << (2 * (s))) /* it or a node below is STAGE_SELF(s) */

/* A field path that keys name. */
struct pnode {
    const struct child *kids; /* sorted by length, then bytes */
    size_t nkids;
    uint32_t kinds;             /* KIND_BIT of each kind of key at this path */
    struct run present;         /* postings of PRESENT (count 0: none) */
    uint32_t stages;            /* STAGE_* */
    const size_t *lens[NAFFIX]; /* lengths of the affixes, ascending */
    size_t nlens[NAFFIX];
};

struct shard {
    size_t base, n; /* patterns[base..base + n) */
    const struct pnode *nodes;
    size_t nnodes;
    const struct entry *table;
    size_t mask; /* table size - 1 */
    const posting *postings;
    const uint64_t *dense;
    const uint64_t *unneeded; /* GUARDS bitmaps of nwords: patterns with fewer guards */
    const uint64_t *exact;    /* nwords: patterns their guards say all of */
    size_t nwords;
    size_t nalways, nexact, nkeys, npostings;
};

struct sl_ruleset {
    struct sl_arena arena; /* everything but the patterns */
    struct sl_pattern *const *patterns;
    size_t n;
    struct shard *shards;
    size_t nshards;
};

/* ---- hashing ----------------------------------------------------------- */

#define MUL 0x9e3779b97f4a7c15ull

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* w with the ASCII capitals of its bytes turned lower case. */
static uint64_t fold64(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t low = w & ~high;
    uint64_t ge_a = low + ones * (0x80 - 'A');     /* high bit: byte >= 'A' */
    uint64_t gt_z = low + ones * (0x80 - 'Z' - 1); /* high bit: byte > 'Z' */
    return w | ((ge_a & ~gt_z & ~w & high) >> 2);
}

/* s[0..n), ASCII letters folded when fold: the same for "ABC" folded as
 * for "abc". */
static uint64_t hash_mem(const char *s, size_t n, bool fold)
{
    uint64_t h = MUL ^ n, w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ (fold ? fold64(w) : w)) * MUL;
        h ^= h >> 29;
    }
    if (n) {
        w = 0;
        memcpy(&w, s, n);
        h = (h ^ (fold ? fold64(w) : w)) * MUL;
    }
    return h;
}

/* The hash of a key of the index, never 0; hv from hash_mem for the
 * string kinds, of the number's bits for NUMBER, 0 otherwise. */
static uint64_t key_hash(uint32_t node, uint32_t kind, uint64_t hv)
{
    uint64_t h = mix64(hv ^ (((uint64_t)node << 4 | kind) * MUL));
    return h ? h : 1;
}

static uint64_t number_hv(double d)
{
    uint64_t bits;
    d = d == 0 ? 0.0 : d; /* -0.0 */
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Whether s[0..n) folded equals lower[0..n). */
static bool eq_fold(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)s[i]) != (unsigned char)lower[i])
            return false;
    return true;
}

/* ---- building ---------------------------------------------------------- */

/* A key while building: its encoding (see encode) and the patterns of the
 * shard that name it or are filed under it. */
struct bkey {
    uint64_t hash; /* 0: an empty slot */
    char *enc;
    size_t len;
    size_t mentions; /* patterns that name it */
    size_t stamp;    /* 1 + the last pattern counted in mentions */
    posting *post;   /* postings filed under it */
    size_t npost, cap;
};

/* A trie node while building. */
struct tnode {
    struct child *kids;
    size_t nkids, cap;
};

struct builder {
    struct sl_arena *arena;
    struct bkey *slots;
    size_t nslots, nkeys;
    struct sl_buf enc; /* the key at hand, encoded */
    size_t rule;       /* the shard's pattern at hand */
    int err;           /* from a cost callback, which cannot return one */
    struct tnode *nodes;
    size_t nnodes, capnodes;
    /* The keys of the pattern at hand's guards, encoded one after the
     * other in pend_bytes, until its guards to keep are known. */
    struct pending {
        size_t off, len, guard;
        double cost;
    } *pend;
    size_t npend, cappend;
    struct sl_buf pend_bytes;
};

/* Encodes k into b->enc: its depth, each name (length, bytes), its kind,
 * then its string or number. Equal keys have equal encodings. */
static int encode(struct builder *b, const struct sl_pattern_key *k)
{
    sl_buf_reset(&b->enc);
    unsigned char kind = (unsigned char)k->kind;
    int rc = sl_buf_append(&b->enc, &k->depth, sizeof(k->depth));
    for (size_t i = 0; i < k->depth && !rc; i++) {
        rc = sl_buf_append(&b->enc, &k->path[i].n, sizeof(k->path[i].n));
        if (!rc)
            rc = sl_buf_append(&b->enc, k->path[i].p, k->path[i].n);
    }
    if (!rc)
        rc = sl_buf_append(&b->enc, &kind, 1);
    if (!rc && k->kind == SL_PATTERN_KEY_NUMBER) {
        double d = k->d == 0 ? 0.0 : k->d;
        rc = sl_buf_append(&b->enc, &d, sizeof(d));
    } else if (!rc && KIND_BIT(k->kind) & STRING_KINDS) {
        rc = sl_buf_append(&b->enc, k->s, k->n);
    }
    return rc;
}

/* The key encoded in enc[0..len), added when add; NULL when missing or
 * out of memory (b->err). */
static struct bkey *bkey_find(struct builder *b, const char *enc, size_t len, bool add)
{
    uint64_t h = mix64(hash_mem(enc, len, false));
    h = h ? h : 1;
    if (add && (b->nkeys + 1) * 2 > b->nslots) {
        size_t n = b->nslots ? b->nslots * 2 : 64;
        struct bkey *slots = calloc(n, sizeof(*slots));
        if (!slots) {
            b->err = SL_ENOMEM;
            return NULL;
        }
        for (size_t i = 0; i < b->nslots; i++) {
            if (!b->slots[i].hash)
                continue;
            size_t j = b->slots[i].hash & (n - 1);
            while (slots[j].hash)
                j = (j + 1) & (n - 1);
            slots[j] = b->slots[i];
        }
        free(b->slots);
        b->slots = slots;
        b->nslots = n;
    }
    if (!b->nslots)
        return NULL;
    size_t i = h & (b->nslots - 1);
    for (; b->slots[i].hash; i = (i + 1) & (b->nslots - 1)) {
        struct bkey *k = &b->slots[i];
        if (k->hash == h && k->len == len && memcmp(k->enc, enc, len) == 0)
            return k;
    }
    if (!add)
        return NULL;
    struct bkey *k = &b->slots[i];
    k->enc = malloc(len ? len : 1);
    if (!k->enc) {
        b->err = SL_ENOMEM;
        return NULL;
    }
    memcpy(k->enc, enc, len);
    k->len = len;
    k->hash = h;
    b->nkeys++;
    return k;
}

/* Pass one's price: counts the patterns that name each key. */
static double count_cost(void *arg, const struct sl_pattern_key *k)
{
    struct builder *b = arg;
    struct bkey *bk = NULL;
    if (!b->err && (b->err = encode(b, k)) == 0)
        bk = bkey_find(b, b->enc.data, b->enc.len, true);
    if (bk && bk->stamp != b->rule + 1) {
        bk->mentions++;
        bk->stamp = b->rule + 1;
    }
    return 1;
}

/* Pass one only counts. */
static int count_emit(void *arg, size_t g, const struct sl_pattern_key *k)
{
    (void)arg;
    (void)g;
    (void)k;
    return 0;
}

/* What a key would cost if every pattern naming it were filed under it:
 * how often an event may hold it (a value, less than a short prefix, less
 * than a value being there at all) times those patterns. */
static double file_cost(void *arg, const struct sl_pattern_key *k)
{
    struct builder *b = arg;
    double base;
    switch (k->kind) {
    case SL_PATTERN_KEY_STRING:
    case SL_PATTERN_KEY_NUMBER:
    case SL_PATTERN_KEY_EQUALS_IC:
        base = 1;
        break;
    case SL_PATTERN_KEY_NULL:
    case SL_PATTERN_KEY_TRUE:
    case SL_PATTERN_KEY_FALSE:
        base = 4;
        break;
    case SL_PATTERN_KEY_PRESENT:
        base = 16;
        break;
    default: /* the affixes */
        base = k->n >= 6 ? 2 : k->n >= 3 ? 4 : 8;
        break;
    }
    struct bkey *bk = NULL;
    if (!b->err && (b->err = encode(b, k)) == 0)
        bk = bkey_find(b, b->enc.data, b->enc.len, false);
    return base * (double)(bk ? bk->mentions : 1);
}

/* Notes key k of guard g of the pattern at hand, and its price. */
static int file_emit(void *arg, size_t g, const struct sl_pattern_key *k)
{
    struct builder *b = arg;
    double cost = file_cost(b, k); /* leaves k encoded in b->enc */
    if (b->err)
        return b->err;
    if (b->npend == b->cappend) {
        size_t cap = b->cappend ? b->cappend * 2 : 16;
        struct pending *p = realloc(b->pend, cap * sizeof(*p));
        if (!p)
            return SL_ENOMEM;
        b->pend = p;
        b->cappend = cap;
    }
    b->pend[b->npend++] = (struct pending){b->pend_bytes.len, b->enc.len, g, cost};
    return sl_buf_append(&b->pend_bytes, b->enc.data, b->enc.len);
}

/* Files the pattern at hand under the keys noted of those of its nguards
 * guards worth keeping (all when exact), numbered anew from 0; *kept gets
 * how many. */
static int file_pending(struct builder *b, size_t nguards, bool exact, size_t *kept)
{
    double cost[GUARDS] = {0};
    size_t renumber[GUARDS];
    for (size_t i = 0; i < b->npend; i++)
        cost[b->pend[i].guard] += b->pend[i].cost;
    *kept = 0;
    for (size_t g = 0; g < nguards; g++) {
        bool keep = g == 0 || exact || cost[g] <= SPARE_GUARD_RATIO * cost[0];
        renumber[g] = keep ? (*kept)++ : GUARDS;
    }
    for (size_t i = 0; i < b->npend; i++) {
        const struct pending *pd = &b->pend[i];
        if (renumber[pd->guard] == GUARDS)
            continue;
        struct bkey *bk = bkey_find(b, b->pend_bytes.data + pd->off, pd->len, true);
        if (!bk)
            return SL_ENOMEM;
        posting post = (posting)(renumber[pd->guard] * SHARD_RULES + b->rule);
        if (bk->npost && bk->post[bk->npost - 1] == post)
            continue; /* another $or branch, same key */
        if (bk->npost == bk->cap) {
            size_t cap = bk->cap ? bk->cap * 2 : 4;
            posting *p = realloc(bk->post, cap * sizeof(*p));
            if (!p)
                return SL_ENOMEM;
            bk->post = p;
            bk->cap = cap;
        }
        bk->post[bk->npost++] = post;
    }
    return 0;
}

/* The child of trie node parent named key[0..len), added when missing;
 * its number, or -1 out of memory. */
static int64_t tnode_child(struct builder *b, uint32_t parent, const char *key, size_t len)
{
    struct tnode *t = &b->nodes[parent];
    for (size_t i = 0; i < t->nkids; i++)
        if (t->kids[i].len == len && memcmp(t->kids[i].key, key, len) == 0)
            return t->kids[i].node;
    if (b->nnodes == b->capnodes) {
        size_t cap = b->capnodes * 2;
        struct tnode *nodes = realloc(b->nodes, cap * sizeof(*nodes));
        if (!nodes)
            return -1;
        b->nodes = nodes;
        b->capnodes = cap;
        t = &b->nodes[parent];
    }
    if (t->nkids == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        struct child *kids = realloc(t->kids, cap * sizeof(*kids));
        if (!kids)
            return -1;
        t->kids = kids;
        t->cap = cap;
    }
    char *copy = sl_arena_strndup(b->arena, key, len);
    if (!copy)
        return -1;
    uint32_t id = (uint32_t)b->nnodes++;
    b->nodes[id] = (struct tnode){0};
    t->kids[t->nkids++] = (struct child){copy, len, id};
    return id;
}

static int child_cmp(const void *a, const void *b)
{
    const struct child *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->key, y->key, x->len);
}

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* A decoded key: its path node, kind and value (pointing into the arena). */
struct dkey {
    uint32_t node, kind;
    const char *s;
    size_t n;
    double d;
};

/* Decodes bk (see encode), adding its path to the trie. */
static int decode(struct builder *b, const struct bkey *bk, struct dkey *out)
{
    const char *p = bk->enc;
    size_t depth, n;
    uint32_t node = 0;
    memcpy(&depth, p, sizeof(depth));
    p += sizeof(depth);
    for (size_t i = 0; i < depth; i++) {
        memcpy(&n, p, sizeof(n));
        p += sizeof(n);
        int64_t c = tnode_child(b, node, p, n);
        if (c < 0)
            return SL_ENOMEM;
        node = (uint32_t)c;
        p += n;
    }
    *out = (struct dkey){.node = node, .kind = (unsigned char)*p++};
    size_t rest = (size_t)(bk->enc + bk->len - p);
    if (out->kind == SL_PATTERN_KEY_NUMBER) {
        memcpy(&out->d, p, sizeof(out->d));
    } else if (KIND_BIT(out->kind) & STRING_KINDS) {
        char *s = sl_arena_alloc(b->arena, rest + 1);
        if (!s)
            return SL_ENOMEM;
        memcpy(s, p, rest);
        out->s = s;
        out->n = rest;
    }
    return 0;
}

static uint64_t dkey_hash(const struct dkey *k)
{
    uint64_t hv = 0;
    if (k->kind == SL_PATTERN_KEY_NUMBER)
        hv = number_hv(k->d);
    else if (KIND_BIT(k->kind) & STRING_KINDS)
        hv = hash_mem(k->s, k->n, KIND_BIT(k->kind) & FOLDED_KINDS);
    return key_hash(k->node, k->kind, hv);
}

/* Lays the keys of b (patterns filed) out as shard sh's index. */
static int finish_shard(struct builder *b, struct shard *sh)
{
    size_t nkeys = 0, npost = 0;
    for (size_t i = 0; i < b->nslots; i++)
        if (b->slots[i].npost) {
            nkeys++;
            npost += b->slots[i].npost;
        }
    size_t size = 8;
    while (size < nkeys * 2)
        size *= 2;
    struct entry *table = sl_arena_alloc(b->arena, size * sizeof(*table));
    posting *postings = sl_arena_alloc(b->arena, (npost ? npost : 1) * sizeof(*postings));
    struct dkey *keys = calloc(nkeys ? nkeys : 1, sizeof(*keys));
    struct run *runs = calloc(nkeys ? nkeys : 1, sizeof(*runs));
    uint64_t *dense = NULL;
    int rc = SL_ENOMEM;
    if (!table || !postings || !keys || !runs)
        goto fail;

    /* Keys decoded (the trie grows), postings laid out as runs or, for
     * long ones, bitmaps. */
    size_t k = 0, at = 0, ndense = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            dense = sl_arena_alloc(b->arena, (ndense ? ndense : 1) * sizeof(*dense));
            if (!dense)
                goto fail;
        }
        k = at = ndense = 0;
        for (size_t i = 0; i < b->nslots; i++) {
            const struct bkey *bk = &b->slots[i];
            if (!bk->npost)
                continue;
            struct run *r = &runs[k++];
            uint32_t gmask = 0;
            for (size_t j = 0; j < bk->npost; j++)
                gmask |= 1u << (bk->post[j] / SHARD_RULES);
            size_t words = (size_t)__builtin_popcount(gmask) * sh->nwords;
            if (bk->npost > words) {
                *r = (struct run){(uint32_t)ndense, (uint32_t)bk->npost, gmask, true};
                for (size_t j = 0; pass == 1 && j < bk->npost; j++) {
                    size_t g = bk->post[j] / SHARD_RULES, rule = bk->post[j] % SHARD_RULES;
                    size_t nth = (size_t)__builtin_popcount(gmask & ((1u << g) - 1));
                    dense[ndense + nth * sh->nwords + rule / 64] |= 1ull << (rule % 64);
                }
                ndense += words;
            } else {
                *r = (struct run){(uint32_t)at, (uint32_t)bk->npost, gmask, false};
                if (pass == 1)
                    memcpy(postings + at, bk->post, bk->npost * sizeof(*postings));
                at += bk->npost;
            }
            if (pass == 1) {
                rc = decode(b, bk, &keys[k - 1]);
                if (rc)
                    goto fail;
            }
        }
    }

    /* The trie's nodes, with what ends at each. */
    rc = SL_ENOMEM;
    struct pnode *nodes = sl_arena_alloc(b->arena, b->nnodes * sizeof(*nodes));
    if (!nodes)
        goto fail;
    for (size_t i = 0; i < b->nnodes; i++) {
        struct tnode *t = &b->nodes[i];
        if (t->nkids)
            qsort(t->kids, t->nkids, sizeof(*t->kids), child_cmp);
        nodes[i].kids = t->kids ? sl_arena_alloc(b->arena, t->nkids * sizeof(*t->kids)) : NULL;
        if (t->nkids && !nodes[i].kids)
            goto fail;
        if (t->nkids)
            memcpy((struct child *)nodes[i].kids, t->kids, t->nkids * sizeof(*t->kids));
        nodes[i].nkids = t->nkids;
    }
    for (size_t a = 0; a < NAFFIX; a++) {
        /* Each node's lengths of affix a, one node after the other. */
        size_t total = 0;
        for (size_t i = 0; i < nkeys; i++)
            total += keys[i].kind == affixes[a];
        if (!total)
            continue;
        size_t *lens = sl_arena_alloc(b->arena, total * sizeof(*lens));
        if (!lens)
            goto fail;
        for (size_t i = 0; i < nkeys; i++)
            if (keys[i].kind == affixes[a])
                nodes[keys[i].node].nlens[a]++;
        size_t off = 0;
        for (size_t i = 0; i < b->nnodes; i++) {
            nodes[i].lens[a] = lens + off;
            off += nodes[i].nlens[a];
            nodes[i].nlens[a] = 0;
        }
        for (size_t i = 0; i < nkeys; i++) {
            struct pnode *nd = &nodes[keys[i].node];
            if (keys[i].kind == affixes[a])
                ((size_t *)nd->lens[a])[nd->nlens[a]++] = keys[i].n;
        }
        for (size_t i = 0; i < b->nnodes; i++) {
            struct pnode *nd = &nodes[i];
            size_t *l = (size_t *)nd->lens[a], m = 0;
            qsort(l, nd->nlens[a], sizeof(*l), size_cmp);
            for (size_t j = 0; j < nd->nlens[a]; j++)
                if (m == 0 || l[m - 1] != l[j])
                    l[m++] = l[j];
            nd->nlens[a] = m;
        }
    }

    /* Every key but PRESENT into the hash table; PRESENT onto its node. */
    for (size_t i = 0; i < nkeys; i++) {
        const struct dkey *dk = &keys[i];
        struct pnode *nd = &nodes[dk->node];
        nd->kinds |= KIND_BIT(dk->kind);
        if (dk->kind == SL_PATTERN_KEY_PRESENT) {
            nd->present = runs[i];
            continue;
        }
        uint64_t h = dkey_hash(dk);
        size_t j = h & (size - 1);
        while (table[j].hash)
            j = (j + 1) & (size - 1);
        table[j] = (struct entry){.hash = h,
                                  .s = dk->s,
                                  .n = dk->n,
                                  .d = dk->d,
                                  .node = dk->node,
                                  .kind = dk->kind,
                                  .run = runs[i]};
    }
    /* Stages: a node's own, then what is below it (children have greater
     * numbers than their parents). */
    for (size_t i = 0; i < nkeys; i++)
        if (runs[i].gmask & 1)
            nodes[keys[i].node].stages |= STAGE_SELF(0);
    for (size_t i = b->nnodes; i-- > 0;) {
        struct pnode *nd = &nodes[i];
        if ((nd->kinds || nd->present.count) && !(nd->stages & STAGE_SELF(0)))
            nd->stages |= STAGE_SELF(1);
        for (size_t s = 0; s < 2; s++)
            if (nd->stages & STAGE_SELF(s))
                nd->stages |= STAGE_BELOW(s);
        for (size_t j = 0; j < nd->nkids; j++)
            nd->stages |= nodes[nd->kids[j].node].stages & (STAGE_BELOW(0) | STAGE_BELOW(1));
    }
    sh->nodes = nodes;
    sh->nnodes = b->nnodes;
    sh->table = table;
    sh->mask = size - 1;
    sh->postings = postings;
    sh->dense = dense;
    sh->nkeys = nkeys;
    sh->npostings = npost;
    rc = 0;
fail:
    free(keys);
    free(runs);
    return rc;
}

static void builder_close(struct builder *b)
{
    for (size_t i = 0; i < b->nslots; i++) {
        free(b->slots[i].enc);
        free(b->slots[i].post);
    }
    free(b->slots);
    for (size_t i = 0; i < b->nnodes; i++)
        free(b->nodes[i].kids);
    free(b->nodes);
    free(b->pend);
    sl_buf_free(&b->enc);
    sl_buf_free(&b->pend_bytes);
}

/* Indexes sh's patterns. */
static int build_shard(struct sl_ruleset *rs, struct shard *sh)
{
    struct builder b = {.arena = &rs->arena};
    sl_buf_init(&b.enc, SIZE_MAX / 4);
    sl_buf_init(&b.pend_bytes, SIZE_MAX / 4);
    int rc = SL_ENOMEM;
    size_t nwords = (sh->n + 63) / 64;
    b.nodes = calloc(16, sizeof(*b.nodes));
    uint64_t *unneeded = sl_arena_alloc(&rs->arena, GUARDS * nwords * sizeof(*unneeded));
    uint64_t *exact = sl_arena_alloc(&rs->arena, nwords * sizeof(*exact));
    if (!b.nodes || !unneeded || !exact)
        goto fail;
    sh->nwords = nwords;
    b.capnodes = 16;
    b.nnodes = 1; /* the root */

    const struct sl_pattern_guard_ops count = {count_cost, count_emit, &b};
    const struct sl_pattern_guard_ops file = {file_cost, file_emit, &b};
    for (b.rule = 0; b.rule < sh->n; b.rule++) {
        (void)sl_pattern_guards(rs->patterns[sh->base + b.rule], &count, GUARDS, NULL);
        if (b.err) {
            rc = b.err;
            goto fail;
        }
    }
    for (b.rule = 0; b.rule < sh->n; b.rule++) {
        const struct sl_pattern *p = rs->patterns[sh->base + b.rule];
        uint64_t bit = 1ull << (b.rule % 64);
        size_t word = b.rule / 64;
        if (!p)
            continue; /* never matches: needs every guard, and has no keys */
        bool all = false;
        size_t kept = 0;
        b.npend = 0;
        sl_buf_reset(&b.pend_bytes);
        int n = sl_pattern_guards(p, &file, GUARDS, &all);
        if (b.err || n < 0 || (rc = file_pending(&b, (size_t)n, all, &kept)) != 0) {
            rc = b.err ? b.err : n < 0 ? n : rc;
            goto fail;
        }
        for (size_t g = kept; g < GUARDS; g++)
            unneeded[g * nwords + word] |= bit;
        if (all) {
            exact[word] |= bit;
            sh->nexact++;
        }
        sh->nalways += n == 0;
    }
    sh->unneeded = unneeded;
    sh->exact = exact;
    rc = finish_shard(&b, sh);
fail:
    builder_close(&b);
    return rc;
}

int sl_ruleset_build(struct sl_pattern *const *patterns, size_t n, struct sl_ruleset **out)
{
    *out = NULL;
    struct sl_ruleset *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return SL_ENOMEM;
    sl_arena_init(&rs->arena, 0);
    int rc = SL_ENOMEM;
    struct sl_pattern **copy = sl_arena_alloc(&rs->arena, (n ? n : 1) * sizeof(*copy));
    rs->nshards = (n + SHARD_RULES - 1) / SHARD_RULES;
    rs->shards = sl_arena_alloc(&rs->arena, (rs->nshards ? rs->nshards : 1) * sizeof(*rs->shards));
    if (!copy || !rs->shards)
        goto fail;
    if (n)
        memcpy(copy, patterns, n * sizeof(*copy));
    rs->patterns = copy;
    rs->n = n;
    for (size_t i = 0; i < rs->nshards; i++) {
        struct shard *sh = &rs->shards[i];
        sh->base = i * SHARD_RULES;
        sh->n = SL_MIN(n - sh->base, (size_t)SHARD_RULES);
        rc = build_shard(rs, sh);
        if (rc)
            goto fail;
    }
    *out = rs;
    return 0;
fail:
    sl_ruleset_free(rs);
    return rc;
}

void sl_ruleset_free(struct sl_ruleset *rs)
{
    if (!rs)
        return;
    sl_arena_free(&rs->arena);
    free(rs);
}

void sl_ruleset_stats(const struct sl_ruleset *rs, struct sl_ruleset_stats *st)
{
    *st = (struct sl_ruleset_stats){0};
    for (size_t i = 0; rs && i < rs->nshards; i++) {
        const struct shard *sh = &rs->shards[i];
        st->always += sh->nalways;
        st->exact += sh->nexact;
        st->keys += sh->nkeys;
        st->postings += sh->npostings;
        st->paths += sh->nnodes;
    }
    st->patterns = rs ? rs->n : 0;
}

/* ---- matching ---------------------------------------------------------- */

/* One shard's walk of an event: per guard number g, bits[g *
 * SHARD_WORDS..] holds the patterns that have guard g satisfied or need
 * none. */
struct walk {
    const struct shard *sh;
    uint32_t self, below; /* STAGE_SELF and STAGE_BELOW of the stage walked */
    uint64_t bits[GUARDS * SHARD_WORDS];
};

/* Sets the bits of the postings of run r. */
static void mark(struct walk *w, const struct run *r)
{
    const struct shard *sh = w->sh;
    if (!r->dense) {
        const posting *p = sh->postings + r->at;
        for (uint32_t i = 0; i < r->count; i++)
            w->bits[p[i] / 64] |= 1ull << (p[i] % 64);
        return;
    }
    const uint64_t *d = sh->dense + r->at;
    for (uint32_t g = 0; g < GUARDS; g++) {
        if (!(r->gmask >> g & 1))
            continue;
        uint64_t *bits = w->bits + g * SHARD_WORDS;
        for (size_t i = 0; i < sh->nwords; i++)
            bits[i] |= d[i];
        d += sh->nwords;
    }
}

/* Marks the patterns of the key (node, kind, the value s[0..n) or d). */
static void probe(struct walk *w, uint32_t node, uint32_t kind, uint64_t hv, const char *s,
                  size_t n, double d)
{
    const struct shard *sh = w->sh;
    uint64_t h = key_hash(node, kind, hv);
    for (size_t i = h & sh->mask;; i = (i + 1) & sh->mask) {
        const struct entry *e = &sh->table[i];
        if (!e->hash)
            return;
        if (e->hash != h || e->node != node || e->kind != kind)
            continue;
        bool eq = true;
        if (kind == SL_PATTERN_KEY_NUMBER)
            eq = e->d == d;
        else if (KIND_BIT(kind) & FOLDED_KINDS)
            eq = e->n == n && eq_fold(s, e->s, n);
        else if (KIND_BIT(kind) & STRING_KINDS)
            eq = e->n == n && memcmp(s, e->s, n) == 0;
        if (eq) {
            mark(w, &e->run);
            return;
        }
    }
}

/* A string value at path node nd (number id). */
static void string_value(struct walk *w, const struct pnode *nd, uint32_t id, const char *s,
                         size_t n)
{
    if (nd->kinds & KIND_BIT(SL_PATTERN_KEY_STRING))
        probe(w, id, SL_PATTERN_KEY_STRING, hash_mem(s, n, false), s, n, 0);
    if (nd->kinds & KIND_BIT(SL_PATTERN_KEY_EQUALS_IC))
        probe(w, id, SL_PATTERN_KEY_EQUALS_IC, hash_mem(s, n, true), s, n, 0);
    for (size_t a = 0; a < NAFFIX; a++) {
        enum sl_pattern_key_kind kind = affixes[a];
        bool ic = KIND_BIT(kind) & FOLDED_KINDS;
        bool suffix = kind == SL_PATTERN_KEY_SUFFIX || kind == SL_PATTERN_KEY_SUFFIX_IC;
        for (size_t i = 0; i < nd->nlens[a] && nd->lens[a][i] <= n; i++) {
            size_t len = nd->lens[a][i];
            const char *at = suffix ? s + n - len : s;
            probe(w, id, kind, hash_mem(at, len, ic), at, len, 0);
        }
    }
}

/* A scalar (not an object, not an array) at path node id. */
static void scalar(struct walk *w, uint32_t id, const json_t *v)
{
    const struct pnode *nd = &w->sh->nodes[id];
    if (!(nd->stages & w->self))
        return;
    if (nd->present.count)
        mark(w, &nd->present);
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (nd->kinds & STRING_KINDS)
            string_value(w, nd, id, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
    case JSON_REAL:
        if (nd->kinds & KIND_BIT(SL_PATTERN_KEY_NUMBER)) {
            double d = json_number_value(v);
            probe(w, id, SL_PATTERN_KEY_NUMBER, number_hv(d), NULL, 0, d);
        }
        return;
    case JSON_TRUE:
        if (nd->kinds & KIND_BIT(SL_PATTERN_KEY_TRUE))
            probe(w, id, SL_PATTERN_KEY_TRUE, 0, NULL, 0, 0);
        return;
    case JSON_FALSE:
        if (nd->kinds & KIND_BIT(SL_PATTERN_KEY_FALSE))
            probe(w, id, SL_PATTERN_KEY_FALSE, 0, NULL, 0, 0);
        return;
    case JSON_NULL:
        if (nd->kinds & KIND_BIT(SL_PATTERN_KEY_NULL))
            probe(w, id, SL_PATTERN_KEY_NULL, 0, NULL, 0, 0);
        return;
    default:
        return;
    }
}

static void object(struct walk *w, uint32_t id, const json_t *obj);

/* The value v of the field at path node id: arrays looked through (as
 * deep as pattern.c looks), objects walked on. */
static void value(struct walk *w, uint32_t id, const json_t *v, unsigned depth)
{
    if (json_is_object(v)) {
        object(w, id, v);
    } else if (json_is_array(v)) {
        if (depth >= SL_PATTERN_MAX_ARRAY_DEPTH)
            return;
        for (size_t i = 0; i < json_array_size(v); i++)
            value(w, id, json_array_get(v, i), depth + 1);
    } else {
        scalar(w, id, v);
    }
}

static const struct child *find_kid(const struct pnode *nd, const char *key, size_t len)
{
    size_t lo = 0, hi = nd->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct child *c = &nd->kids[mid];
        int cmp = c->len != len ? (c->len < len ? -1 : 1) : memcmp(c->key, key, len);
        if (cmp == 0)
            return c;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The fields of obj, the value at path node id, that the trie names:
 * looked up in obj, or obj's keys in the trie, whichever are fewer. */
static void object(struct walk *w, uint32_t id, const json_t *obj)
{
    const struct pnode *nd = &w->sh->nodes[id];
    if (nd->nkids <= json_object_size(obj)) {
        for (size_t i = 0; i < nd->nkids; i++) {
            const struct child *c = &nd->kids[i];
            if (!(w->sh->nodes[c->node].stages & w->below))
                continue;
            const json_t *v = json_object_getn(obj, c->key, c->len);
            if (v)
                value(w, c->node, v, 0);
        }
        return;
    }
    const char *key;
    size_t len;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, len, v)
    {
        const struct child *c = find_kid(nd, key, len);
        if (c && w->sh->nodes[c->node].stages & w->below)
            value(w, c->node, v, 0);
    }
}

/* Walks event through shard sh: w->bits then say which guards of each
 * pattern it satisfies. */
static void walk_shard(struct walk *w, const struct shard *sh, const json_t *event)
{
    w->sh = sh;
    for (size_t g = 0; g < GUARDS; g++)
        memcpy(w->bits + g * SHARD_WORDS, sh->unneeded + g * sh->nwords,
               sh->nwords * sizeof(*w->bits));
    if (!json_is_object(event))
        return;
    for (unsigned s = 0; s < 2; s++) {
        if (s == 1) {
            uint64_t alive = 0; /* patterns whose first guard holds */
            for (size_t i = 0; i < sh->nwords; i++)
                alive |= w->bits[i];
            if (!alive)
                return;
        }
        w->self = STAGE_SELF(s);
        w->below = STAGE_BELOW(s);
        if (sh->nodes[0].stages & w->below)
            object(w, 0, event);
    }
}

/* The patterns of word i of the shard walked whose every guard holds. */
static uint64_t candidates(const struct walk *w, size_t i)
{
    uint64_t x = w->bits[i];
    for (size_t g = 1; g < GUARDS; g++)
        x &= w->bits[g * SHARD_WORDS + i];
    return x;
}

size_t sl_ruleset_match(const struct sl_ruleset *rs, const json_t *event, sl_ruleset_cb cb,
                        void *arg)
{
    size_t count = 0;
    struct walk w;
    for (size_t s = 0; rs && s < rs->nshards; s++) {
        const struct shard *sh = &rs->shards[s];
        walk_shard(&w, sh, event);
        for (size_t i = 0; i < sh->nwords; i++) {
            uint64_t x = candidates(&w, i), exact = sh->exact[i];
            for (; x; x &= x - 1) {
                unsigned bit = (unsigned)__builtin_ctzll(x);
                size_t r = sh->base + i * 64 + bit;
                if (exact >> bit & 1 || sl_pattern_match(rs->patterns[r], event)) {
                    count++;
                    if (cb)
                        cb(arg, r);
                }
            }
        }
    }
    return count;
}

size_t sl_ruleset_candidates(const struct sl_ruleset *rs, const json_t *event)
{
    size_t count = 0;
    struct walk w;
    for (size_t s = 0; rs && s < rs->nshards; s++) {
        const struct shard *sh = &rs->shards[s];
        walk_shard(&w, sh, event);
        for (size_t i = 0; i < sh->nwords; i++)
            count += (size_t)__builtin_popcountll(candidates(&w, i) & ~sh->exact[i]);
    }
    return count;
}
