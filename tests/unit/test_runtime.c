/* Unit tests of the runtime's pure pieces: the concurrency governor and
 * the REPORT line AWS writes, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/runtime.h"

static void test_governor_reserved(void **state)
{
    (void)state;
    /* Reserved concurrency 0 throttles everything. */
    assert_string_equal(sl_governor_admit(0, 0, 1000, 0, 0),
                        "ReservedFunctionConcurrentInvocationLimitExceeded");
    /* Up to the reservation, whatever the account does. */
    assert_null(sl_governor_admit(2, 1, 1000, 2, 999));
    assert_string_equal(sl_governor_admit(2, 2, 1000, 2, 0),
                        "ReservedFunctionConcurrentInvocationLimitExceeded");
}

static void test_governor_unreserved_pool(void **state)
{
    (void)state;
    /* The pool is the account limit less every reservation. */
    assert_null(sl_governor_admit(-1, 0, 1000, 900, 99));
    assert_string_equal(sl_governor_admit(-1, 0, 1000, 900, 100),
                        "ConcurrentInvocationLimitExceeded");
    assert_null(sl_governor_admit(-1, 5, 1000, 0, 999));
    assert_string_equal(sl_governor_admit(-1, 5, 1000, 0, 1000),
                        "ConcurrentInvocationLimitExceeded");
}

static void test_report_line(void **state)
{
    (void)state;
    char line[512];
    sl_runtime_report_line(line, sizeof(line), "57f231fb-1730-4395-85cb-4f71bd2b87b8", 128.831,
                           128, 74, 166.62);
    assert_string_equal(line, "REPORT RequestId: 57f231fb-1730-4395-85cb-4f71bd2b87b8\t"
                              "Duration: 128.83 ms\tBilled Duration: 129 ms\t"
                              "Memory Size: 128 MB\tMax Memory Used: 74 MB\t"
                              "Init Duration: 166.62 ms\t");
    /* Warm: no Init Duration; billing rounds up to the millisecond. */
    sl_runtime_report_line(line, sizeof(line), "id", 3.0, 512, 40, 0);
    assert_string_equal(line, "REPORT RequestId: id\tDuration: 3.00 ms\tBilled Duration: 3 ms\t"
                              "Memory Size: 512 MB\tMax Memory Used: 40 MB\t");
    sl_runtime_report_line(line, sizeof(line), "id", 0.2, 128, 10, 0);
    assert_non_null(strstr(line, "Billed Duration: 1 ms"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_governor_reserved),
        cmocka_unit_test(test_governor_unreserved_pool),
        cmocka_unit_test(test_report_line),
    };
    return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
