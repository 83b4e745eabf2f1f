/*
 * Orbit: a multi-model storage layer for actor databases. The umbrella
 * header: include this, or the one part you use.
 */
#ifndef ORBIT_ORBIT_H
#define ORBIT_ORBIT_H

#include "orbit/error.h"
#include "orbit/buf.h"
#include "orbit/kv.h"
#include "orbit/codec.h"
#include "orbit/record.h"
#include "orbit/strings.h"
#include "orbit/catalog.h"
#include "orbit/txn.h"
#include "orbit/model.h"
#include "orbit/relational.h"
#include "orbit/timeseries.h"
#include "orbit/graph.h"
#include "orbit/document.h"
#include "orbit/vector.h"
#include "orbit/manager.h"

#endif
