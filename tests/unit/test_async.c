/* The asynchronous invocation schedules, unscaled (AWS's own numbers) and
 * as --time-scale divides them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "services/lambda/lambda.h"

/* Function errors: about one minute before the first retry, two before
 * the second. */
static void test_retry_schedule_unscaled(void **state)
{
    (void)state;
    assert_int_equal(sl_lambda_async_retry_delay_ms(1, 1), 60000);
    assert_int_equal(sl_lambda_async_retry_delay_ms(2, 1), 120000);
}

/* Throttles and system errors: 1 s, doubling, capped at 5 minutes. */
static void test_throttle_schedule_unscaled(void **state)
{
    (void)state;
    static const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000,
                                   300000, 300000};
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(sl_lambda_async_throttle_delay_ms(i + 1, 1), want[i]);
    assert_int_equal(sl_lambda_async_throttle_delay_ms(60, 1), 300000);
}

/* --time-scale divides every delay (rounding up: never zero). */
static void test_scaled(void **state)
{
    (void)state;
    assert_int_equal(sl_lambda_async_retry_delay_ms(1, 600), 100);
    assert_int_equal(sl_lambda_async_retry_delay_ms(2, 600), 200);
    assert_int_equal(sl_lambda_async_throttle_delay_ms(1, 600), 2);
    assert_int_equal(sl_lambda_async_throttle_delay_ms(1, 1e6), 1);
    assert_int_equal(sl_lambda_async_retry_delay_ms(1, 0), 60000); /* no scale: AWS's */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_schedule_unscaled),
        cmocka_unit_test(test_throttle_schedule_unscaled),
        cmocka_unit_test(test_scaled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
