/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  bulkorder on a Citus cluster (docs/citus.md): each chunk of a job
 *	  runs as one delegated call on the node that holds the job's shop.
 *
 * bulkorder.distribute_shops() (sql/code/80_citus.sql) distributes every
 * shop table by shop_id, co-located, and registers the functions below as
 * Citus distributed functions delegated by their first argument, the shop
 * (force_delegation).  From then on the engine's entry points hand every
 * chunk of work to them instead of running it here:
 *
 *	 run_chunk(shop, ...)      engine.c's lock and apply of one chunk, and
 *	                           job_chunk.c's give-up pass
 *	 preview_chunk(shop, ...)  jobs.c's preview of one chunk
 *
 * Citus pushes the call down to the node that holds the shop's shards,
 * inside the caller's (coordinated) transaction: a synchronous job's locks
 * taken by one call are held for its next calls, and everything commits
 * (or rolls back) with the caller's transaction.
 *
 * On that node the call runs the very code a single node runs, and every
 * statement the engine composes is planned by PostgreSQL itself against the
 * shop's shards (confine.c replaces each distributed table by its local shard
 * as it confines the statement to the shop).  A chunk is thus one statement
 * with PostgreSQL's own semantics, its data-modifying CTEs one snapshot,
 * with the plans, the speed and the SQL forms of one node.  Had the
 * statements gone through Citus's planner instead, a chain of
 * data-modifying CTEs would be split into steps with snapshots of their
 * own, and forms that PostgreSQL accepts would be refused (generic plans
 * with parameters, STABLE functions in RETURNING) or crash the node
 * (UPDATE ... SET col = arr[i] on Citus 13.2.2).
 *
 * A call that reaches a node that does not hold the shop (Citus did not
 * delegate it, or the shop moved away between the routing and the call) is
 * refused, never run against distributed tables.  A call takes the shard's
 * metadata lock as Citus's own writes do (ShareLock), so a shard move waits
 * for a chunk in flight, and a chunk that comes after the move committed
 * finds the shop gone and fails with 40001 (a serialization failure: the
 * job worker runs the chunk again, and Citus routes it to the new node).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_citus_distributed);

/* running a delegated call: the engine's work is here, not elsewhere */
static bool in_delegated_call = false;

/* bulk_citus_distributed's answer, for the transaction that asked */
static LocalTransactionId distributed_lxid = InvalidLocalTransactionId;
static bool distributed_answer = false;

static void
citus_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		in_delegated_call = false;
}

/*
 * A delegated call (citus_node.c) begins or ends here: inside it, the
 * engine's entry points run the chunk themselves.
 */
void
bulk_citus_delegated_call(bool inside)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(citus_xact_callback, NULL);
		registered = true;
	}
	in_delegated_call = inside;
}

/*
 * Has distribute_shops() distributed this database's shop tables?  One look
 * per transaction; on a database without Citus, one catalogue lookup.
 */
bool
bulk_citus_distributed(void)
{
	bool		isnull;

	if (distributed_lxid == MyProc->lxid)
		return distributed_answer;
	distributed_answer = false;
	if (OidIsValid(get_extension_oid("citus", true)))
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "bulkorder: SPI_connect failed");
		if (SPI_execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition"
						" WHERE logicalrelid = pg_catalog.to_regclass('bulkorder.orders'))",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "bulkorder: could not read pg_dist_partition");
		distributed_answer = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
	}
	distributed_lxid = MyProc->lxid;
	return distributed_answer;
}

/* bulkorder_catalog.citus_distributed(): for the SQL functions */
Datum
bulkorder_citus_distributed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bulk_citus_distributed());
}

/* The engine's work goes to the shop's node: distributed, and not there yet */
static bool
delegating(void)
{
	return !in_delegated_call && bulk_citus_distributed();
}

/*
 * Is this a Citus worker node (a node that is not the coordinator)?  Its
 * job workers leave the queue to the coordinator's (job_worker.c).
 */
bool
bulk_citus_worker_node(void)
{
	bool		isnull;
	bool		worker;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	if (SPI_execute("SELECT NOT pg_catalog.citus_is_coordinator()", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "bulkorder: could not ask citus_is_coordinator()");
	worker = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return worker;
}

/* ----------------------------------------------------------------
 * The coordinator's side: one delegated call per chunk
 * ----------------------------------------------------------------
 */

static const char *
mode_name(BulkChunkMode mode)
{
	switch (mode)
	{
		case BULK_CHUNK_LOCK:
			return "lock";
		case BULK_CHUNK_APPLY:
			return "apply";
		case BULK_CHUNK_APPLY_LOCKED:
			return "apply_locked";
		case BULK_CHUNK_GIVE_UP:
			return "give_up";
	}
	elog(ERROR, "bulkorder: unknown chunk mode %d", (int) mode);
	return NULL;
}

/*
 * Run one chunk of work of op where the job's shop is: false when that is
 * here (the caller runs it itself), true when a delegated call ran it.  The
 * call carries what the chunk's statements depend on beyond its arguments:
 * the session's language (the items' messages) and lock_timeout (a job
 * worker's chunk waits no longer there than here).  succeeded, failed: the
 * chunk's counts (not for BULK_CHUNK_LOCK); held, nheld: the targets the
 * give-up pass found held, in key order.
 */
bool
bulk_citus_run_chunk(BulkOperation *op, int64 job_id, Jsonb *params,
					 const int64 *keys, int count, BulkChunkMode mode,
					 int64 *succeeded, int64 *failed, int64 **held, int *nheld)
{
	Oid			types[9] = {INT8OID, INT8OID, TEXTOID, TEXTOID, JSONBOID, INT8ARRAYOID,
	TEXTOID, TEXTOID, INT4OID};
	Datum		values[9];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	int			rc;

	if (!delegating())
		return false;
	values[0] = Int64GetDatum(bulk_confined_shop());
	values[1] = Int64GetDatum(job_id);
	values[2] = CStringGetTextDatum(op->page);
	values[3] = CStringGetTextDatum(op->operation);
	values[4] = JsonbPGetDatum(params);
	values[5] = PointerGetDatum(bulk_keys_array(keys, count));
	values[6] = CStringGetTextDatum(mode_name(mode));
	values[7] = CStringGetTextDatum(GetConfigOption("bulkorder.language", false, false));
	values[8] = Int32GetDatum(LockTimeout);

	/*
	 * SELECT ... FROM f(): the form Citus delegates inside a function call
	 * and a transaction block too (not as a simple expression); the shop
	 * becomes a constant before Citus routes the call.
	 */
	rc = SPI_execute_with_args("SELECT succeeded, failed, held"
							   " FROM bulkorder_catalog.run_chunk($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							   9, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "bulkorder: the delegated chunk of %s/%s failed: %s", op->page, op->operation,
			 SPI_result_code_string(rc));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (succeeded)
		*succeeded = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	if (failed)
		*failed = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	if (held)
	{
		*held = NULL;
		*nheld = 0;
		d = SPI_getbinval(tup, desc, 3, &isnull);
		if (!isnull)
		{
			BulkTargets t = bulk_array_keys(DatumGetArrayTypePCopy(d),
											"list of held targets of a delegated give-up pass");

			*nheld = t.count;
			*held = t.keys;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * The preview of one chunk where the job's shop is, into the caller's
 * result: false when that is here.
 */
bool
bulk_citus_preview_chunk(BulkOperation *op, Jsonb *params, const int64 *keys, int count,
						 bool read_only, ReturnSetInfo *rsinfo)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, JSONBOID, INT8ARRAYOID, BOOLOID, TEXTOID};
	Datum		values[7];
	int			rc;

	if (!delegating())
		return false;
	values[0] = Int64GetDatum(bulk_confined_shop());
	values[1] = CStringGetTextDatum(op->page);
	values[2] = CStringGetTextDatum(op->operation);
	values[3] = JsonbPGetDatum(params);
	values[4] = PointerGetDatum(bulk_keys_array(keys, count));
	values[5] = BoolGetDatum(read_only);
	values[6] = CStringGetTextDatum(GetConfigOption("bulkorder.language", false, false));
	rc = SPI_execute_with_args("SELECT target, ok, error_code, message"
							   " FROM bulkorder_catalog.preview_chunk($1, $2, $3, $4, $5, $6, $7)",
							   7, types, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "bulkorder: the delegated preview of %s/%s failed: %s", op->page, op->operation,
			 SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		out[4];
		bool		nulls[4];

		/* the statement's columns are the function's result's */
		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, out, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
	}
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* schema.table, quoted where needed */
static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/* ----------------------------------------------------------------
 * define_operation on a coordinator
 * ----------------------------------------------------------------
 */

typedef struct RelationsContext
{
	List	   *relids;
} RelationsContext;

static bool
relations_walker(Node *node, RelationsContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		ListCell   *lc;

		foreach(lc, ((Query *) node)->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION)
				ctx->relids = list_append_unique_oid(ctx->relids, rte->relid);
		}
		return query_tree_walker((Query *) node, relations_walker, (void *) ctx, 0);
	}
	return expression_tree_walker(node, relations_walker, (void *) ctx);
}

/*
 * A statement of an operation being declared on a Citus coordinator
 * (define_operation, catalog.c): a WARNING for each table it reads that is
 * not on the node a chunk runs on -- neither a table of the shops, nor a
 * reference table, nor a catalogue.  There the chunk would fail.
 */
void
bulk_citus_check_statement(SPIPlanPtr plan, const char *what)
{
	RelationsContext ctx = {NIL};
	ListCell   *lc;
	Oid			own[3] = {PG_CATALOG_NAMESPACE, get_namespace_oid("bulkorder_catalog", false),
	get_namespace_oid("information_schema", true)};

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *source = (CachedPlanSource *) lfirst(lc);

		(void) relations_walker((Node *) source->query_list, &ctx);
	}
	foreach(lc, ctx.relids)
	{
		Oid			relid = lfirst_oid(lc);
		Oid			nsp = get_rel_namespace(relid);
		Oid			types[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};
		bool		everywhere;
		bool		isnull;

		if (nsp == own[0] || nsp == own[1] || nsp == own[2])
			continue;
		if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p"
								  "  WHERE p.logicalrelid = $1::pg_catalog.regclass"
								  "    AND ((p.partmethod = 'n' AND p.repmodel = 't')"
								  "         OR p.colocationid = (SELECT colocationid FROM pg_catalog.pg_dist_partition"
								  "                              WHERE logicalrelid = 'bulkorder.orders'::pg_catalog.regclass)))",
								  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "bulkorder: could not read pg_dist_partition");
		everywhere = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_freetuptable(SPI_tuptable);
		if (!everywhere)
			ereport(WARNING,
					(errmsg("%s reads table %s, which is not on every node of this Citus cluster",
							what, qualified_name(relid)),
					 bulk_errdetail(BMSG_CITUS_TABLE_NOT_ON_NODES, NULL),
					 bulk_errhint(BMSG_CITUS_TABLE_NOT_ON_NODES_HINT, NULL)));
	}
}
