/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  bulkorder on a Citus cluster (SPEC §9 "Citus"): each chunk of a job
 *	  runs as one delegated call on the node that holds the job's shop.
 *
 * bulkorder.distribute_shops() (sql/code/80_citus.sql) distributes every
 * shop table by shop_id, co-located, and registers the functions below as
 * Citus distributed functions delegated by their first argument, the shop
 * (force_delegation).  From then on the engine's entry points hand every
 * chunk of work to them instead of running it here:
 *
 *	 run_chunk(shop, ...)      engine.c's lock and apply of one chunk, and
 *	                           job_worker.c's give-up pass
 *	 preview_chunk(shop, ...)  jobs.c's preview of one chunk
 *
 * Citus pushes the call down to the node that holds the shop's shards,
 * inside the caller's (coordinated) transaction: a synchronous job's locks
 * taken by one call are held for its next calls, and everything commits
 * (or rolls back) with the caller's transaction.
 *
 * On that node the call runs the very code a single node runs, and every
 * statement the engine composes is planned by PostgreSQL itself against the
 * shop's shards (shop.c replaces each distributed table by its local shard
 * as it confines the statement to the shop).  A chunk is thus one statement
 * with PostgreSQL's own semantics, its data-modifying CTEs one snapshot,
 * with the plans, the speed and the SQL forms of one node.  Had the
 * statements gone through Citus's planner instead, a chain of
 * data-modifying CTEs would be split into steps with snapshots of their
 * own (CITUS-NOTES, cause 4), and forms that PostgreSQL accepts would be
 * refused (causes 3, 5) or crash the node (cause 6).
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
PG_FUNCTION_INFO_V1(bulkorder_run_chunk);
PG_FUNCTION_INFO_V1(bulkorder_preview_chunk);

/* running a delegated call: the engine's work is here, not elsewhere */
static bool in_delegated_call = false;

/* bulk_citus_distributed's answer, for the transaction that asked */
static LocalTransactionId distributed_lxid = InvalidLocalTransactionId;
static bool distributed_answer = false;

/* shards whose columns were found to be their table's (shard_layout_ok) */
static Oid *checked_shards = NULL;
static int	nchecked_shards = 0;
static int	checked_shards_size = 0;

static void
citus_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		in_delegated_call = false;
}

static void
ensure_callback(void)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(citus_xact_callback, NULL);
		registered = true;
	}
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
			ArrayType  *arr = DatumGetArrayTypePCopy(d);

			if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID)
				elog(ERROR, "bulkorder: the delegated give-up pass returned a malformed list");
			*nheld = ARR_NDIM(arr) == 0 ? 0 : ArrayGetNItems(1, ARR_DIMS(arr));
			*held = (int64 *) ARR_DATA_PTR(arr);
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
					 errdetail("Each chunk of a job runs on the node that holds its shop, where the shop's tables, the reference tables and the catalogue are."),
					 errhint("Make it a reference table (create_reference_table), or read the shop's own tables.")));
	}
}

/* ----------------------------------------------------------------
 * The shop's node: the delegated call
 * ----------------------------------------------------------------
 */

/*
 * The chunk's keys as the caller cut them (sorted, distinct): no limit of
 * this node's applies to a job the coordinator accepted.
 */
static BulkTargets
chunk_keys(ArrayType *arr)
{
	BulkTargets t;

	if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID)
		elog(ERROR, "bulkorder: a chunk's targets must be a one-dimensional bigint array without NULL");
	t.count = ARR_NDIM(arr) == 0 ? 0 : ArrayGetNItems(1, ARR_DIMS(arr));
	t.keys = (int64 *) ARR_DATA_PTR(arr);
	return t;
}

/* Has the shard shard the columns of its table shell, at their numbers? */
static bool
shard_layout_ok(Oid shell, Oid shard)
{
	Relation	a;
	Relation	b;
	TupleDesc	da;
	TupleDesc	db;
	bool		same;

	for (int i = 0; i < nchecked_shards; i++)
		if (checked_shards[i] == shard)
			return true;
	a = relation_open(shell, AccessShareLock);
	b = relation_open(shard, AccessShareLock);
	da = RelationGetDescr(a);
	db = RelationGetDescr(b);
	same = da->natts == db->natts;
	for (int i = 0; same && i < da->natts; i++)
	{
		Form_pg_attribute x = TupleDescAttr(da, i);
		Form_pg_attribute y = TupleDescAttr(db, i);

		same = x->attisdropped == y->attisdropped &&
			(x->attisdropped || (x->atttypid == y->atttypid && x->atttypmod == y->atttypmod &&
								 strcmp(NameStr(x->attname), NameStr(y->attname)) == 0));
	}
	relation_close(b, AccessShareLock);
	relation_close(a, AccessShareLock);
	if (!same)
		return false;
	if (nchecked_shards == checked_shards_size)
	{
		checked_shards_size = Max(64, checked_shards_size * 2);
		checked_shards = checked_shards ?
			repalloc(checked_shards, sizeof(Oid) * checked_shards_size) :
			MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * checked_shards_size);
	}
	checked_shards[nchecked_shards++] = shard;
	return true;
}

/*
 * The shop's shards on this node, kept for the next call of the same shop:
 * the shard of each of its tables (shells[i] -> shards[i]).  Valid while
 * the anchor shard (orders') is the one of the shop and every shard
 * relation still exists: a shard split gives the shop another anchor, a
 * move away and back re-creates the relations.
 */
static int64 map_shop = 0;
static int64 map_anchor = 0;
static Oid *map_shells = NULL;
static Oid *map_shards = NULL;
static int	map_count = 0;

static bool
shard_map_valid(int64 shop, int64 anchor)
{
	if (map_shop != shop || map_anchor != anchor || map_count == 0)
		return false;
	for (int i = 0; i < map_count; i++)
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(map_shards[i])))
			return false;
	return true;
}

/* Read the shop's shards on this node into the map (anchor: orders' shard) */
static void
read_shard_map(int64 shop, int64 anchor)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(shop)};
	bool		isnull;
	int			n = 0;

	map_count = 0;
	/* the shop's tables, and every reference table (a copy on every node) */
	if (SPI_execute_with_args("SELECT p.logicalrelid::oid, s.shardid,"
							  "       EXISTS (SELECT FROM pg_catalog.pg_dist_placement pl"
							  "                WHERE pl.shardid = s.shardid"
							  "                  AND pl.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group)),"
							  "       c.relnamespace"
							  "  FROM pg_catalog.pg_dist_partition p"
							  "  JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid"
							  "  CROSS JOIN LATERAL (SELECT pg_catalog.get_shard_id_for_distribution_column("
							  "         p.logicalrelid, CASE WHEN p.partmethod = 'h' THEN $1 END) AS shardid) s"
							  " WHERE (c.relnamespace = 'bulkorder'::pg_catalog.regnamespace"
							  "        AND p.colocationid = (SELECT colocationid FROM pg_catalog.pg_dist_partition"
							  "                              WHERE logicalrelid = 'bulkorder.orders'::pg_catalog.regclass))"
							  "    OR (p.partmethod = 'n' AND p.repmodel = 't')",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "bulkorder: could not read the shards of shop %lld", (long long) shop);
	if (map_shells)
	{
		pfree(map_shells);
		pfree(map_shards);
	}
	map_shells = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(SPI_processed, 1));
	map_shards = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Oid			shell = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		int64		shardid = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		char	   *name = psprintf("%s_%lld", get_rel_name(shell), (long long) shardid);
		Oid			shard;

		if (!DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
			elog(ERROR, "bulkorder: shard %s of shop %lld is not on this node", name, (long long) shop);
		shard = get_relname_relid(name, DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull)));
		if (!OidIsValid(shard))
			elog(ERROR, "bulkorder: shard %s of shop %lld is not on this node", name, (long long) shop);
		if (!shard_layout_ok(shell, shard))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("shard %s does not have the columns of its table %s at their numbers",
							name, get_rel_name(shell)),
					 errdetail("The engine runs its statements against the shop's shards as it would against the tables."),
					 errhint("A column dropped before the table was distributed leaves a gap; copy the table into a new one before distribute_shops().")));
		map_shells[n] = shell;
		map_shards[n] = shard;
		n++;
	}
	SPI_freetuptable(SPI_tuptable);
	map_shop = shop;
	map_anchor = anchor;
	map_count = n;
}

/*
 * Enter the delegated call of shop's chunk: the node must hold the shop.
 * The engine's statements are then confined to the shop and planned against
 * its shards here (shop.c).  The caller is connected to SPI.
 */
static void
enter_shop_node(int64 shop)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(shop)};
	bool		isnull;
	int64		anchor;

	ensure_callback();

	/*
	 * The shop's shard group, fenced as Citus's own writes fence it: a move
	 * of it waits for this transaction, and once one has committed, the
	 * next statement's snapshot sees the shards elsewhere.
	 */
	if (SPI_execute_with_args("SELECT s.id, pg_catalog.lock_shard_metadata(5, ARRAY[s.id])"
							  "  FROM pg_catalog.get_shard_id_for_distribution_column('bulkorder.orders', $1) AS s(id)",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "bulkorder: could not lock the shard of shop %lld", (long long) shop);
	anchor = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	values[0] = Int64GetDatum(anchor);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_placement pl"
							  "                WHERE pl.shardid = $1"
							  "                  AND pl.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group))",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "bulkorder: could not read the placement of shard %lld", (long long) anchor);
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("shop %lld is not on this node", (long long) shop),
				 errdetail("A chunk of the shop's work reached a node that does not hold its shard %lld.",
						   (long long) anchor),
				 errhint("The shop may have moved: run the call again.  On a coordinator, run bulkorder.distribute_shops().")));
	SPI_freetuptable(SPI_tuptable);
	if (!shard_map_valid(shop, anchor))
		read_shard_map(shop, anchor);
	bulk_confine_shards(map_shells, map_shards, map_count);
	in_delegated_call = true;
}

static void
leave_shop_node(void)
{
	in_delegated_call = false;
	bulk_confine_shards(NULL, NULL, 0);
}

/* The call's settings, for its duration (AtEOXact_GUC(true, nest) ends them) */
static int
set_call_settings(const char *language, int lock_timeout)
{
	int			nest = NewGUCNestLevel();
	char		buf[32];

	(void) set_config_option("bulkorder.language", language, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (lock_timeout >= 0)
	{
		snprintf(buf, sizeof(buf), "%d", lock_timeout);
		(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	return nest;
}

/*
 * bulkorder_catalog.run_chunk(shop, job_id, page, operation, params,
 *     targets, mode, language, lock_timeout)
 *   RETURNS TABLE(succeeded bigint, failed bigint, held bigint[])
 *
 * One chunk of work of a job of the shop, on the node that holds it (see
 * the head of this file): mode lock (the rows of the targets), apply,
 * apply_locked, or give_up (job_worker.c's give-up pass; held lists the
 * targets still held).  Not for calling by hand: nothing is granted on it.
 */
Datum
bulkorder_run_chunk(PG_FUNCTION_ARGS)
{
	int64		shop = PG_GETARG_INT64(0);
	int64		job_id = PG_GETARG_INT64(1);
	char	   *page = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *operation = text_to_cstring(PG_GETARG_TEXT_PP(3));
	Jsonb	   *params = PG_GETARG_JSONB_P(4);
	BulkTargets targets = chunk_keys(PG_GETARG_ARRAYTYPE_P(5));
	char	   *mode = text_to_cstring(PG_GETARG_TEXT_PP(6));
	int			nest = set_call_settings(text_to_cstring(PG_GETARG_TEXT_PP(7)), PG_GETARG_INT32(8));
	int64		previous = bulk_confine(shop);
	BulkOperation *op;
	int64		ok = 0,
				ng = 0;
	int64	   *held = NULL;
	int			nheld = 0;
	TupleDesc	tupdesc;
	Datum		result[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "bulkorder: run_chunk must return a row");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	enter_shop_node(shop);
	op = bulk_lookup_job_operation(page, operation, params, job_id);
	if (strcmp(mode, "lock") == 0)
		bulk_lock_targets(op, params, targets.keys, targets.count);
	else if (strcmp(mode, "apply") == 0 || strcmp(mode, "apply_locked") == 0)
		bulk_apply_chunk(op, job_id, params, targets.keys, targets.count,
						 strcmp(mode, "apply_locked") == 0, &ok, &ng);
	else if (strcmp(mode, "give_up") == 0)
		bulk_give_up_chunk(op, job_id, params, targets.keys, targets.count, &ok, &ng,
						   &held, &nheld);
	else
		elog(ERROR, "bulkorder: unknown chunk mode \"%s\"", mode);
	leave_shop_node();
	SPI_finish();
	bulk_confine(previous);
	AtEOXact_GUC(true, nest);

	result[0] = Int64GetDatum(ok);
	result[1] = Int64GetDatum(ng);
	result[2] = PointerGetDatum(bulk_keys_array(held, nheld));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), result, nulls)));
}

/*
 * bulkorder_catalog.preview_chunk(shop, page, operation, params, targets,
 *     read_only, language)
 *   RETURNS TABLE(target bigint, ok boolean, error_code text, message text)
 *
 * The preview of one chunk of a job of the shop, on the node that holds it:
 * jobs.c's bulk_preview_targets, there.
 */
Datum
bulkorder_preview_chunk(PG_FUNCTION_ARGS)
{
	int64		shop = PG_GETARG_INT64(0);
	char	   *page = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *operation = text_to_cstring(PG_GETARG_TEXT_PP(2));
	Jsonb	   *params = PG_GETARG_JSONB_P(3);
	BulkTargets targets = chunk_keys(PG_GETARG_ARRAYTYPE_P(4));
	bool		read_only = PG_GETARG_BOOL(5);
	int			nest = set_call_settings(text_to_cstring(PG_GETARG_TEXT_PP(6)), -1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		previous;
	BulkOperation *op;

	InitMaterializedSRF(fcinfo, 0);
	previous = bulk_confine(shop);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	enter_shop_node(shop);
	op = bulk_lookup_job_operation(page, operation, params, 0);
	bulk_preview_targets(op, params, &targets, read_only, rsinfo);
	leave_shop_node();
	SPI_finish();
	bulk_confine(previous);
	AtEOXact_GUC(true, nest);
	return (Datum) 0;
}
