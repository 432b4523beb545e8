/*
 * governor — the concurrency governor (DESIGN.md: engine → governor →
 * runtime): how many executions of each function may run at once. A
 * function with reserved concurrency runs at most that many (0 stops it);
 * the others share what the reservations leave of the account's limit.
 * An execution takes a slot of its function when it starts (acquire) and
 * gives it back when it ends (release); a consumer that has work for a
 * function asks for a slot before it takes the work, and is called back
 * when one frees instead of trying again later.
 *
 * Functions are named by a key (the runtime's: "<account>:<region>/<name>").
 * Any thread; one mutex. Callbacks run without it, on the thread that
 * released the slot: they must only hand the news on (post to a loop).
 *
 * May call: core.
 */
#ifndef SL_GOVERNOR_H
#define SL_GOVERNOR_H

#include "core/core.h"

struct sl_governor;

int sl_governor_new(struct sl_governor **out, unsigned account_limit);
void sl_governor_free(struct sl_governor *g);
unsigned sl_governor_account_limit(const struct sl_governor *g);

/* A function's reserved concurrency (-1: none). A change wakes its
 * waiters. */
void sl_governor_set_reserved(struct sl_governor *g, const char *key, long reserved);

/* Takes a slot of key's function: NULL, or the Reason of Lambda's 429
 * TooManyRequestsException when none is free. */
const char *sl_governor_acquire(struct sl_governor *g, const char *key);
/* Gives a slot of key's function back; its waiters (and, for a function
 * without a reservation, those of every such function) are called. */
void sl_governor_release(struct sl_governor *g, const char *key);
/* How many slots key's function could take now. */
unsigned sl_governor_available(struct sl_governor *g, const char *key);
/* key's function's reserved concurrency (-1: none; 0: it may not run). */
long sl_governor_reserved(struct sl_governor *g, const char *key);
/* Executions of key's function under way. */
unsigned sl_governor_active(struct sl_governor *g, const char *key);

/* Calls cb(arg, key) once, after a slot key's function could take frees
 * or its reservation changes. Waiting again with the same key and arg
 * replaces the wait. */
int sl_governor_wait(struct sl_governor *g, const char *key,
                     void (*cb)(void *arg, const char *key), void *arg);
/* Ends every wait of arg: once it returns, no callback of arg runs. */
void sl_governor_unwait(struct sl_governor *g, void *arg);

/*
 * The decision itself, for one more execution of a function with reserved
 * concurrency reserved (-1: none) and fn_active executions under way, in
 * an account whose limit is account_limit, whose functions reserve
 * reserved_total in all, and whose unreserved functions run
 * unreserved_active executions: NULL to admit it, else the Reason.
 */
const char *sl_governor_admit(long reserved, unsigned fn_active, unsigned account_limit,
                              long reserved_total, unsigned unreserved_active);

#endif
