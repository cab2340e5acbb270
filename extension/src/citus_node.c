/*-------------------------------------------------------------------------
 *
 * citus_node.c
 *	  The shop's node on a Citus cluster: the delegated call of one chunk.
 *
 * bulkorder_catalog.run_chunk and preview_chunk, which distribute_shops()
 * registers as Citus distributed functions delegated by the shop, run here,
 * on the node that holds the shop: they check that it does, fence the
 * shop's shards against a move, point the engine's statements at the
 * shop's local shards (confine.c) and run the very code one node runs
 * (engine.c, job_chunk.c, jobs.c).  citus.c is the coordinator's side.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_run_chunk);
PG_FUNCTION_INFO_V1(bulkorder_preview_chunk);

/* shards whose columns were found to be their table's (shard_layout_ok) */
static Oid *checked_shards = NULL;
static int	nchecked_shards = 0;
static int	checked_shards_size = 0;

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
					 bulk_errdetail(BMSG_CITUS_SHARD_LAYOUT, NULL),
					 bulk_errhint(BMSG_CITUS_SHARD_LAYOUT_HINT, NULL)));
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
 * its shards here (confine.c).  The caller is connected to SPI.
 */
static void
enter_shop_node(int64 shop)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(shop)};
	bool		isnull;
	int64		anchor;

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
				 bulk_errdetail(BMSG_CITUS_SHOP_MOVED, psprintf("%lld", (long long) anchor)),
				 bulk_errhint(BMSG_CITUS_SHOP_MOVED_HINT, NULL)));
	SPI_freetuptable(SPI_tuptable);
	if (!shard_map_valid(shop, anchor))
		read_shard_map(shop, anchor);
	bulk_confine_shards(map_shells, map_shards, map_count);
	bulk_citus_delegated_call(true);
}

static void
leave_shop_node(void)
{
	bulk_citus_delegated_call(false);
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
 * the head of citus.c): mode lock (the rows of the targets), apply,
 * apply_locked, or give_up (job_chunk.c's give-up pass; held lists the
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
	BulkTargets targets = bulk_array_keys(PG_GETARG_ARRAYTYPE_P(5), "chunk");
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
	BulkTargets targets = bulk_array_keys(PG_GETARG_ARRAYTYPE_P(4), "chunk");
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
