/*
 * sts — AWS Security Token Service, so far GetCallerIdentity: what the aws
 * CLI and most tools call first to learn who they are (query protocol).
 */
#ifndef SL_STS_H
#define SL_STS_H

#include "services/service.h"

extern const struct sl_service sl_service_sts;

#endif
