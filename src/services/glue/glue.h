/*
 * glue — the AWS Glue Data Catalog (json 1.1, AWSGlue): databases, tables
 * with their storage descriptors and partition keys, and partitions, with
 * GetPartitions' expressions and SearchTables.
 */
#ifndef SL_GLUE_H
#define SL_GLUE_H

#include "services/service.h"

/* The service's row of the service table. */
extern const struct sl_service sl_service_glue;

#endif
