/* Unit tests of the event-pattern language (engine/pattern.h): numbered
 * cases of a pattern, an event and whether they match, one table per
 * behaviour (the rows follow AWS's EventBridge content-filtering docs and
 * event-ruler's README), then patterns compile must refuse, with the
 * message checked, and the question FilterCriteria asks (uses). Patterns
 * and events are written with ' for " to keep the tables readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/pattern.h"

struct mcase {
    int id;
    const char *pattern, *event;
    bool match;
};

/* s with every ' turned into " (malloc'd). */
static char *dq(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

static void run_cases(const struct mcase *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *pat = dq(v[i].pattern), *evt = dq(v[i].event);
        struct sl_err err = {0};
        struct sl_pattern *p = NULL;
        int rc = sl_pattern_compile(pat, strlen(pat), &p, &err);
        json_error_t jerr;
        json_t *ev = rc ? NULL : json_loads(evt, JSON_DECODE_ANY, &jerr);
        bool got = ev && sl_pattern_match(p, ev);
        json_decref(ev);
        sl_pattern_free(p);
        free(pat);
        free(evt);
        if (rc)
            fail_msg("case %d: %s does not compile: %s", v[i].id, v[i].pattern, err.msg);
        if (!ev)
            fail_msg("case %d: event %s is not JSON: %s", v[i].id, v[i].event, jerr.text);
        if (got != v[i].match)
            fail_msg("case %d: %s against %s: %s, want %s", v[i].id, v[i].pattern, v[i].event,
                     got ? "match" : "no match", v[i].match ? "match" : "no match");
    }
}

#define RUN(table) run_cases(table, SL_ARRAY_LEN(table))

static void test_exact_values(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {1, "{'source':['aws.ec2']}", "{'source':'aws.ec2'}", true},
        {2, "{'source':['aws.ec2']}", "{'source':'aws.ec2 '}", false},
        {3, "{'source':['aws.ec2','aws.fargate']}", "{'source':'aws.fargate'}", true},
        {4, "{'source':['AWS.EC2']}", "{'source':'aws.ec2'}", false},
        {5, "{'a':['x'],'b':['y']}", "{'a':'x','b':'z'}", false},
        {6, "{'a':['x'],'b':['y']}", "{'a':'x','b':'y','c':1}", true},
        {7, "{'a':['x'],'b':['y']}", "{'a':'x'}", false},
        {8, "{'n':[300]}", "{'n':300.0}", true},
        {9, "{'n':[3.0e2]}", "{'n':300}", true},
        {10, "{'n':[300]}", "{'n':'300'}", false},
        {11, "{'s':['300']}", "{'s':300}", false},
        {12, "{'n':[300]}", "{'n':301}", false},
        {13, "{'v':[null]}", "{'v':null}", true},
        {14, "{'v':[null]}", "{}", false},
        {15, "{'v':['']}", "{'v':''}", true},
        {16, "{'v':['']}", "{'v':null}", false},
        {17, "{'v':[null]}", "{'v':''}", false},
        {18, "{'b':[true]}", "{'b':true}", true},
        {19, "{'b':[true]}", "{'b':'true'}", false},
        {20, "{'b':[false]}", "{'b':true}", false},
        {21, "{'a':['x']}", "{'a':{'b':'x'}}", false},
        /* duplicate keys: the last one wins */
        {22, "{'a':['x'],'a':['y']}", "{'a':'y'}", true},
        {23, "{'a':['x'],'a':['y']}", "{'a':'x'}", false},
        /* multi-byte strings compare byte for byte */
        {24, "{'a':['caf\\u00e9']}", "{'a':'caf\\u00e9'}", true},
        {25, "{'a':['caf\\u00e9']}", "{'a':'cafe'}", false},
    };
    RUN(v);
}

static void test_prefix_suffix(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {101, "{'time':[{'prefix':'2017-10-02'}]}", "{'time':'2017-10-02T18:43:48Z'}", true},
        {102, "{'time':[{'prefix':'2017-10-02'}]}", "{'time':'2017-10-03T18:43:48Z'}", false},
        {103, "{'time':[{'prefix':'2017-10-02'}]}", "{'time':'2017-10'}", false},
        {104, "{'n':[{'prefix':'1'}]}", "{'n':123}", false},
        {105, "{'s':[{'prefix':''}]}", "{'s':''}", true},
        {106, "{'s':[{'prefix':{'equals-ignore-case':'EvEnTb'}}]}", "{'s':'eventbridge'}", true},
        {107, "{'s':[{'prefix':{'equals-ignore-case':'EvEnTb'}}]}", "{'s':'events'}", false},
        {108, "{'f':[{'suffix':'.png'}]}", "{'f':'image.png'}", true},
        {109, "{'f':[{'suffix':'.png'}]}", "{'f':'image.PNG'}", false},
        {110, "{'f':[{'suffix':{'equals-ignore-case':'.PNG'}}]}", "{'f':'a.png'}", true},
        {111, "{'f':[{'suffix':{'equals-ignore-case':'.PNG'}}]}", "{'f':'a.pn'}", false},
        {112, "{'d':[{'equals-ignore-case':'EC2 Instance'}]}", "{'d':'ec2 INSTANCE'}", true},
        {113, "{'d':[{'equals-ignore-case':'EC2 Instance'}]}", "{'d':'ec2 instances'}", false},
        {114, "{'d':[{'equals-ignore-case':'1'}]}", "{'d':1}", false},
        {115, "{'f':['x',{'prefix':'a'},{'suffix':'z'}]}", "{'f':'quiz'}", true},
    };
    RUN(v);
}

static void test_wildcard(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {201, "{'s':[{'wildcard':'Simple*Service'}]}", "{'s':'SimpleNotificationService'}", true},
        {202, "{'s':[{'wildcard':'Simple*Service'}]}", "{'s':'SimpleService'}", true},
        {203, "{'s':[{'wildcard':'Simple*Service'}]}", "{'s':'SimpleServices'}", false},
        {204, "{'s':[{'wildcard':'Simple*Service'}]}", "{'s':'simpleService'}", false},
        {205, "{'k':[{'wildcard':'dir/*.png'}]}", "{'k':'dir/a/b.png'}", true},
        {206, "{'k':[{'wildcard':'dir/*.png'}]}", "{'k':'dir/a.jpg'}", false},
        {207, "{'k':[{'wildcard':'*'}]}", "{'k':''}", true},
        {208, "{'k':[{'wildcard':'*'}]}", "{'k':5}", false},
        {209, "{'k':[{'wildcard':'*a*b*'}]}", "{'k':'xxbxaxb'}", true},
        {210, "{'k':[{'wildcard':'*a*b*'}]}", "{'k':'ba'}", false},
        {211, "{'k':[{'wildcard':'ab*ba'}]}", "{'k':'aba'}", false},
        /* \* is a star */
        {212, "{'k':[{'wildcard':'a\\\\*b'}]}", "{'k':'a*b'}", true},
        {213, "{'k':[{'wildcard':'a\\\\*b'}]}", "{'k':'axb'}", false},
        /* \\ is a backslash; after it, * is a wildcard again */
        {214, "{'k':[{'wildcard':'a\\\\\\\\b'}]}", "{'k':'a\\\\b'}", true},
        {215, "{'k':[{'wildcard':'a\\\\\\\\*'}]}", "{'k':'a\\\\xyz'}", true},
        {216, "{'k':[{'wildcard':'a\\\\\\\\*'}]}", "{'k':'axyz'}", false},
        {217, "{'k':[{'wildcard':'no-star'}]}", "{'k':'no-star'}", true},
    };
    RUN(v);
}

static void test_anything_but(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {301, "{'state':[{'anything-but':'initializing'}]}", "{'state':'running'}", true},
        {302, "{'state':[{'anything-but':'initializing'}]}", "{'state':'initializing'}", false},
        {303, "{'state':[{'anything-but':'initializing'}]}", "{}", false},
        {304, "{'x':[{'anything-but':123}]}", "{'x':124}", true},
        {305, "{'x':[{'anything-but':123}]}", "{'x':123.0}", false},
        {306, "{'s':[{'anything-but':['stopped','overloaded']}]}", "{'s':'stopped'}", false},
        {307, "{'s':[{'anything-but':['stopped','overloaded']}]}", "{'s':'running'}", true},
        {308, "{'x':[{'anything-but':[100,200,300]}]}", "{'x':200}", false},
        {309, "{'x':[{'anything-but':[100,200,300]}]}", "{'x':201}", true},
        {310, "{'r':[{'anything-but':{'prefix':'us-'}}]}", "{'r':'us-east-1'}", false},
        {311, "{'r':[{'anything-but':{'prefix':'us-'}}]}", "{'r':'eu-west-1'}", true},
        {312, "{'f':[{'anything-but':{'suffix':'.png'}}]}", "{'f':'a.png'}", false},
        {313, "{'f':[{'anything-but':{'suffix':'.png'}}]}", "{'f':'a.jpg'}", true},
        {314, "{'s':[{'anything-but':{'equals-ignore-case':['Stopped','OverLoaded']}}]}",
         "{'s':'STOPPED'}", false},
        {315, "{'s':[{'anything-but':{'equals-ignore-case':['Stopped','OverLoaded']}}]}",
         "{'s':'running'}", true},
        {316, "{'s':[{'anything-but':{'equals-ignore-case':'x'}}]}", "{'s':'X'}", false},
        {317, "{'p':[{'anything-but':{'wildcard':'*/lib/*'}}]}", "{'p':'/usr/lib/x'}", false},
        {318, "{'p':[{'anything-but':{'wildcard':'*/lib/*'}}]}", "{'p':'/usr/bin/x'}", true},
        {319, "{'p':[{'anything-but':{'wildcard':['*.a','*.b']}}]}", "{'p':'x.b'}", false},
        {320, "{'p':[{'anything-but':{'wildcard':['*.a','*.b']}}]}", "{'p':'x.c'}", true},
        {321, "{'a':[{'anything-but':{'prefix':'x'}}]}", "{'b':'y'}", false},
        {322, "{'a':[{'anything-but':{'prefix':['x','y']}}]}", "{'a':'yes'}", false},
        /* on an array: one element other than the excluded values is enough */
        {323, "{'a':[{'anything-but':'x'}]}", "{'a':['x','y']}", true},
        {324, "{'a':[{'anything-but':'x'}]}", "{'a':['x']}", false},
        {325, "{'a':[{'anything-but':'x'}]}", "{'a':[]}", false},
        {326, "{'a':[{'anything-but':'x'}]}", "{'a':{'b':'y'}}", false},
    };
    RUN(v);
}

static void test_numeric(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {401, "{'c':[{'numeric':['>',0,'<=',5]}]}", "{'c':5}", true},
        {402, "{'c':[{'numeric':['>',0,'<=',5]}]}", "{'c':0}", false},
        {403, "{'c':[{'numeric':['>',0,'<=',5]}]}", "{'c':5.000001}", false},
        {404, "{'c':[{'numeric':['>',0,'<=',5]}]}", "{'c':0.5}", true},
        {405, "{'c':[{'numeric':['<',10]}]}", "{'c':10}", false},
        {406, "{'c':[{'numeric':['<',10]}]}", "{'c':-1e300}", true},
        {407, "{'x':[{'numeric':['=',3.018e2]}]}", "{'x':301.8}", true},
        {408, "{'x':[{'numeric':['=',3.018e2]}]}", "{'x':301.80001}", false},
        {409, "{'c':[{'numeric':['>',0]}]}", "{'c':'5'}", false},
        {410, "{'c':[{'numeric':['>=',1,'<',2]}]}", "{'c':1}", true},
        {411, "{'c':[{'numeric':['>=',1,'<',2]}]}", "{'c':2}", false},
        {412, "{'c':[{'numeric':['<=',-5e9]}]}", "{'c':-5000000000}", true},
        {413, "{'c':[{'numeric':['>=',5e9]}]}", "{'c':4999999999.5}", false},
        {414, "{'c':[{'numeric':['>',0]}]}", "{'c':[-1,3]}", true},
        {415, "{'c':[{'numeric':['>',0]}]}", "{'c':null}", false},
        {416, "{'c':[{'numeric':['=',0]}]}", "{'c':-0.0}", true},
    };
    RUN(v);
}

static void test_exists(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {501, "{'d':{'c':[{'exists':true}]}}", "{'d':{'c':5}}", true},
        {502, "{'d':{'c':[{'exists':true}]}}", "{'d':{'c':null}}", true},
        {503, "{'d':{'c':[{'exists':true}]}}", "{'d':{}}", false},
        {504, "{'d':{'c':[{'exists':true}]}}", "{'d':{'c':{'x':1}}}", false},
        {505, "{'d':{'c':[{'exists':true}]}}", "{}", false},
        {506, "{'d':{'c':[{'exists':false}]}}", "{'d':{}}", true},
        {507, "{'d':{'c':[{'exists':false}]}}", "{}", true},
        {508, "{'d':{'c':[{'exists':false}]}}", "{'d':{'c':1}}", false},
        {509, "{'d':{'c':[{'exists':false}]}}", "{'d':{'c':null}}", false},
        /* c is no leaf when it holds an object */
        {510, "{'d':{'c':[{'exists':false}]}}", "{'d':{'c':{'x':1}}}", true},
        {511, "{'d':{'c':[{'exists':false}]}}", "{'d':'text'}", true},
        {512, "{'a':[{'exists':true}]}", "{'a':[]}", false},
        {513, "{'a':[{'exists':false}]}", "{'a':[]}", true},
        {514, "{'a':['x',{'exists':false}]}", "{}", true},
        {515, "{'a':['x',{'exists':false}]}", "{'a':'y'}", false},
    };
    RUN(v);
}

static void test_cidr(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {601, "{'ip':[{'cidr':'10.0.0.0/24'}]}", "{'ip':'10.0.0.255'}", true},
        {602, "{'ip':[{'cidr':'10.0.0.0/24'}]}", "{'ip':'10.0.1.0'}", false},
        {603, "{'ip':[{'cidr':'10.0.0.0/24'}]}", "{'ip':'not-an-ip'}", false},
        {604, "{'ip':[{'cidr':'10.0.0.0/24'}]}", "{'ip':10}", false},
        {605, "{'ip':[{'cidr':'2001:db8::/32'}]}", "{'ip':'2001:db8:ffff::1'}", true},
        {606, "{'ip':[{'cidr':'2001:db8::/32'}]}", "{'ip':'2001:db9::1'}", false},
        {607, "{'ip':[{'cidr':'2001:db8::/32'}]}", "{'ip':'10.0.0.1'}", false},
        {608, "{'ip':[{'cidr':'10.0.0.0/24'}]}", "{'ip':'2001:db8::1'}", false},
        {609, "{'ip':[{'cidr':'10.1.2.3/8'}]}", "{'ip':'10.200.0.1'}", true},
        {610, "{'ip':[{'cidr':'0.0.0.0/0'}]}", "{'ip':'1.2.3.4'}", true},
        {611, "{'ip':[{'cidr':'10.0.0.7/32'}]}", "{'ip':'10.0.0.7'}", true},
        {612, "{'ip':[{'cidr':'10.0.0.7/32'}]}", "{'ip':'10.0.0.6'}", false},
        {613, "{'ip':[{'cidr':'2001:db8::1/127'}]}", "{'ip':'2001:db8::1'}", true},
        {614, "{'ip':[{'cidr':'2001:db8::1/127'}]}", "{'ip':'2001:db8::2'}", false},
    };
    RUN(v);
}

static void test_or(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {701, "{'$or':[{'a':['1']},{'b':['2']}]}", "{'b':'2'}", true},
        {702, "{'$or':[{'a':['1']},{'b':['2']}]}", "{'c':'3'}", false},
        {703, "{'source':['x'],'$or':[{'a':['1']},{'b':['2']}]}", "{'source':'x','a':'1'}", true},
        {704, "{'source':['x'],'$or':[{'a':['1']},{'b':['2']}]}", "{'source':'y','a':'1'}", false},
        {705, "{'d':{'$or':[{'c':[{'numeric':['>',0]}]},{'e':[{'numeric':['<',10]}]}]}}",
         "{'d':{'e':5}}", true},
        {706, "{'d':{'$or':[{'c':[{'numeric':['>',0]}]},{'e':[{'numeric':['<',10]}]}]}}",
         "{'d':{'c':0,'e':10}}", false},
        {707, "{'$or':[{'a':['1']},{'b':['2'],'$or':[{'c':['3']},{'d':['4']}]}]}",
         "{'b':'2','d':'4'}", true},
        {708, "{'$or':[{'a':['1']},{'b':['2'],'$or':[{'c':['3']},{'d':['4']}]}]}", "{'b':'2'}",
         false},
        /* operator names inside make "$or" an ordinary field */
        {709, "{'$or':[{'prefix':'a'},{'suffix':'z'}]}", "{'$or':'abc'}", true},
        {710, "{'$or':[{'prefix':'a'},{'suffix':'z'}]}", "{'x':'abc'}", false},
        {711, "{'$or':[{'a':{'b':['1']}},{'c':[{'exists':false}]}]}", "{'c':1,'a':{'b':'1'}}",
         true},
    };
    RUN(v);
}

static void test_arrays_and_nesting(void **state)
{
    (void)state;
    static const struct mcase v[] = {
        {801, "{'resources':['arn:a','arn:b']}", "{'resources':['arn:c','arn:b']}", true},
        {802, "{'resources':['arn:a','arn:b']}", "{'resources':['arn:c']}", false},
        {803, "{'e':{'first':['Anna']}}", "{'e':[{'first':'John'},{'first':'Anna'}]}", true},
        /* the fields of one match come from one element */
        {804, "{'e':{'first':['Anna'],'last':['Jones']}}",
         "{'e':[{'first':'Anna','last':'Smith'},{'first':'Peter','last':'Jones'}]}", false},
        {805, "{'e':{'first':['Anna'],'last':['Smith']}}",
         "{'e':[{'first':'Peter','last':'Jones'},{'first':'Anna','last':'Smith'}]}", true},
        {806, "{'e':{'first':['Peter']}}", "{'e':[[{'first':'John'}],[{'first':'Peter'}]]}", true},
        {807, "{'d':{'s':['x']}}", "{'d':'x'}", false},
        {808, "{'d':{'s':['x']}}", "{'d':['x',{'s':'x'}]}", true},
        {809, "{'a':{'b':{'c':['x']}}}", "{'a':{'b':{'c':'x'}}}", true},
        {810, "{'a':{'b':{'c':['x']}}}", "{'a':{'b':{'c':'y'}}}", false},
        {811, "{'a':['x']}", "{'a':[['y'],['x']]}", true},
        {812, "{'a':['x']}", "{'a':[{'b':'x'}]}", false},
        {813, "{'a':{'b':[{'exists':false}]}}", "{'a':[{'b':1},{'c':1}]}", true},
        {814, "{'a':{'b':[{'exists':false}]}}", "{'a':[{'b':1}]}", false},
        {815, "{'a':['x']}", "[]", false},
    };
    RUN(v);
}

struct ecase {
    int id;
    const char *pattern, *message; /* message: a part of err.msg */
};

static void run_errors(const struct ecase *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *pat = dq(v[i].pattern);
        struct sl_err err = {0};
        struct sl_pattern *p = (struct sl_pattern *)&err; /* must become NULL */
        int rc = sl_pattern_compile(pat, strlen(pat), &p, &err);
        free(pat);
        if (rc != SL_EINVAL) {
            sl_pattern_free(rc ? NULL : p);
            fail_msg("case %d: %s: %d, want SL_EINVAL", v[i].id, v[i].pattern, rc);
        }
        if (p)
            fail_msg("case %d: *out not NULL after a failure", v[i].id);
        if (!strstr(err.msg, v[i].message))
            fail_msg("case %d: %s: message \"%s\", want \"%s\" in it", v[i].id, v[i].pattern,
                     err.msg, v[i].message);
    }
}

static void test_compile_errors(void **state)
{
    (void)state;
    static const struct ecase v[] = {
        {901, "[]", "Filter is not an object"},
        {902, "'a'", "Filter is not an object"},
        {903, "{", "not valid JSON"},
        {904, "{}", "Empty objects are not allowed"},
        {905, "{'a':{}}", "Empty objects are not allowed"},
        {906, "{'a':[]}", "Empty arrays are not allowed"},
        {907, "{'a':'x'}", "\"a\" must be an object or an array"},
        {908, "{'a':[{'wildcardx':'x'}]}", "Unrecognized match type wildcardx"},
        {909, "{'a':[{'prefix':1}]}", "prefix match pattern must be a string"},
        {910, "{'a':[{'prefix':'a','suffix':'b'}]}", "Only one key allowed"},
        {911, "{'a':[{}]}", "Match expression name not found"},
        {912, "{'a':[{'wildcard':'a**b'}]}", "Consecutive wildcard characters at pos 2"},
        {913, "{'a':[{'wildcard':'a\\\\b'}]}", "Invalid escape character at pos 1"},
        {914, "{'a':[{'wildcard':'a\\\\'}]}", "Invalid escape character"},
        {915, "{'a':[{'numeric':['<',1,'<',2]}]}", "Too many elements in numeric expression"},
        {916, "{'a':[{'numeric':['>',0,'>',2]}]}", "Bad numeric range operator: >"},
        {917, "{'a':[{'numeric':['>','1']}]}", "Value of > must be numeric"},
        {918, "{'a':[{'numeric':['>',5,'<',1]}]}", "Bottom must be less than top"},
        {919, "{'a':[{'numeric':['>=',1,'<=',1]}]}", "Bottom must be less than top"},
        {920, "{'a':[{'numeric':['!=',1]}]}", "Unrecognized numeric range operator: !="},
        {921, "{'a':[{'numeric':['>',6e9]}]}", "Numeric value must be within"},
        {922, "{'a':[{'numeric':'>'}]}", "Value of numeric must be an array"},
        {923, "{'a':[{'numeric':['>',1,'<']}]}", "Too many elements in numeric expression"},
        {924, "{'a':[{'numeric':['=']}]}", "Too few elements in numeric expression"},
        {925, "{'a':[{'numeric':[1,'>']}]}", "operator expected"},
        {926, "{'a':[{'exists':'yes'}]}", "exists match pattern must be either true or false"},
        {927, "{'a':[{'cidr':'10.0.0.0'}]}", "Malformed CIDR: 10.0.0.0"},
        {928, "{'a':[{'cidr':'10.0.0.0/33'}]}", "Malformed CIDR"},
        {929, "{'a':[{'cidr':'2001:db8::/129'}]}", "Malformed CIDR"},
        {930, "{'a':[{'cidr':'10.0.0/8'}]}", "Malformed CIDR"},
        {931, "{'a':[{'cidr':'10.0.0.0/-1'}]}", "Malformed CIDR"},
        {932, "{'a':[{'cidr':1}]}", "cidr match pattern must be a string"},
        {933, "{'a':[{'anything-but':['a',1]}]}", "mixed type is not supported"},
        {934, "{'a':[{'anything-but':[]}]}", "Empty arrays are not allowed"},
        {935, "{'a':[{'anything-but':null}]}", "must be an array or single string/number"},
        {936, "{'a':[{'anything-but':[null]}]}", "null|boolean is not supported"},
        {937, "{'a':[{'anything-but':{'numeric':['>',1]}}]}",
         "Unsupported anything-but pattern: numeric"},
        {938, "{'a':[{'anything-but':{'prefix':''}}]}", "Null prefix/suffix not allowed"},
        {939, "{'a':[{'anything-but':{'prefix':'a','suffix':'b'}}]}", "Only one key allowed"},
        {940, "{'a':[{'anything-but':{'wildcard':'a**'}}]}", "Consecutive wildcard"},
        {941, "{'a':[{'anything-but':{'equals-ignore-case':[1]}}]}", "must be a string"},
        {942, "{'a':[{'equals-ignore-case':['x']}]}", "must be a string"},
        {943, "{'a':[{'prefix':{'equals-ignore-case':1}}]}", "must be a string"},
        {944, "{'a':[{'suffix':{'exactly':'x'}}]}", "Value of suffix must be a string or"},
        {945, "{'a':[['x']]}", "Match value must be String, number, true, false, or null"},
        {946, "{'$or':[{'a':['1']}]}", "Unrecognized match type a"},
        {947, "{'$or':[{'a':['1']},{}]}", "Empty objects are not allowed"},
        {948, "{'a':{'b':1}}", "\"b\" must be an object or an array"},
    };
    run_errors(v, SL_ARRAY_LEN(v));
}

/* {"a":{"a":...{"a":["x"]}...}} with depth objects, in b. */
static void nested(char *b, size_t cap, int depth)
{
    size_t n = 0;
    for (int i = 0; i < depth - 1; i++)
        n += (size_t)snprintf(b + n, cap - n, "{\"a\":");
    n += (size_t)snprintf(b + n, cap - n, "{\"a\":[\"x\"]}");
    for (int i = 0; i < depth - 1; i++)
        n += (size_t)snprintf(b + n, cap - n, "}");
}

/* Fields f0..f(nf-1), each {"$or":[{"k0":["v"]},...,{"k(nb-1)":["v"]}]}. */
static void ors(char *b, size_t cap, int nf, int nb)
{
    size_t n = (size_t)snprintf(b, cap, "{");
    for (int f = 0; f < nf; f++) {
        n += (size_t)snprintf(b + n, cap - n, "%s\"f%d\":{\"$or\":[", f ? "," : "", f);
        for (int k = 0; k < nb; k++)
            n += (size_t)snprintf(b + n, cap - n, "%s{\"k%d\":[\"v\"]}", k ? "," : "", k);
        n += (size_t)snprintf(b + n, cap - n, "]}");
    }
    snprintf(b + n, cap - n, "}");
}

static void test_limits(void **state)
{
    (void)state;
    char b[8192];
    struct sl_err err = {0};
    struct sl_pattern *p;

    nested(b, sizeof(b), SL_PATTERN_MAX_DEPTH);
    assert_int_equal(sl_pattern_compile(b, strlen(b), &p, &err), 0);
    json_t *ev = json_loads("{\"a\":{\"a\":{\"a\":1}}}", 0, NULL);
    assert_false(sl_pattern_match(p, ev));
    json_decref(ev);
    sl_pattern_free(p);
    nested(b, sizeof(b), SL_PATTERN_MAX_DEPTH + 1);
    assert_int_equal(sl_pattern_compile(b, strlen(b), &p, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "deeper than"));

    /* 10 x 10 x 10 combinations is the limit; 11 x 10 x 10 is past it. */
    ors(b, sizeof(b), 3, 10);
    assert_int_equal(sl_pattern_compile(b, strlen(b), &p, &err), 0);
    ev = json_loads("{\"f0\":{\"k9\":\"v\"},\"f1\":{\"k0\":\"v\"},\"f2\":{\"k5\":[\"v\"]}}", 0,
                    NULL);
    assert_true(sl_pattern_match(p, ev));
    json_decref(ev);
    sl_pattern_free(p);
    ors(b, sizeof(b), 3, 11);
    assert_int_equal(sl_pattern_compile(b, strlen(b), &p, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "more than 1000 combinations"));
    /* Saturation: a product far past any size_t stays an error, not a wrap. */
    ors(b, sizeof(b), 20, 12);
    assert_int_equal(sl_pattern_compile(b, strlen(b), &p, &err), SL_EINVAL);

    assert_int_equal(sl_pattern_compile(NULL, 0, &p, &err), SL_EINVAL);
    assert_null(p);
    sl_pattern_free(NULL);
}

static void test_uses(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *key;
        bool uses;
    } v[] = {
        {"{'body':{'a':['x']}}", "body", true},
        {"{'body':{'a':['x']}}", "a", false},
        {"{'$or':[{'body':{'a':['x']}},{'eventSource':['aws:sqs']}]}", "body", true},
        {"{'$or':[{'body':{'a':['x']}},{'eventSource':['aws:sqs']}]}", "eventSource", true},
        {"{'x':{'body':['a']}}", "body", false},
        {"{'bodyx':['a']}", "body", false},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(v); i++) {
        char *pat = dq(v[i].pattern);
        struct sl_err err = {0};
        struct sl_pattern *p;
        assert_int_equal(sl_pattern_compile(pat, strlen(pat), &p, &err), 0);
        bool got = sl_pattern_uses(p, v[i].key);
        sl_pattern_free(p);
        free(pat);
        if (got != v[i].uses)
            fail_msg("%s uses %s: %d, want %d", v[i].pattern, v[i].key, got, v[i].uses);
    }
}

/* One compiled pattern, many events: the compiled form does not depend
 * on the document it came from, and an event that is no object has no
 * fields. */
static void test_compile_once_match_many(void **state)
{
    (void)state;
    char *pat = dq("{'source':['aws.s3'],'detail':{'bucket':{'name':[{'prefix':'logs-'}]},"
                   "'size':[{'numeric':['>=',1024]}]}}");
    struct sl_err err = {0};
    struct sl_pattern *p;
    assert_int_equal(sl_pattern_compile(pat, strlen(pat), &p, &err), 0);
    memset(pat, 'x', strlen(pat));
    free(pat);
    int matched = 0;
    for (int i = 0; i < 100; i++) {
        json_t *ev = json_pack("{s:s, s:{s:{s:s}, s:i}}", "source", "aws.s3", "detail", "bucket",
                               "name", i % 2 ? "logs-a" : "data-a", "size", 1000 + i);
        assert_non_null(ev);
        matched += sl_pattern_match(p, ev);
        json_decref(ev);
    }
    assert_int_equal(matched, 38); /* odd i with 1000 + i >= 1024: 25, 27, ..., 99 */
    json_t *arr = json_array();
    assert_false(sl_pattern_match(p, arr));
    assert_false(sl_pattern_match(p, NULL));
    json_decref(arr);
    sl_pattern_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_values),
        cmocka_unit_test(test_prefix_suffix),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_anything_but),
        cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_exists),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_or),
        cmocka_unit_test(test_arrays_and_nesting),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_uses),
        cmocka_unit_test(test_compile_once_match_many),
    };
    return cmocka_run_group_tests_name("pattern", tests, NULL, NULL);
}
