/*-------------------------------------------------------------------------
 *
 * engine.c
 *	  The set-based engine: one chunk of targets at a time, lock the rows in
 *	  key order, check, change and record them in one statement, then
 *	  record the targets that failed, when there are any.
 *
 * The statements are the operation's (plan_cache.c); their results are
 * read by the column names of bulkorder_statements.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "bulkorder_statements.h"

static int64
result_int8(int col)
{
	bool		isnull;
	Datum		d = bulk_spi_first(col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* Run one of the operation's statements; its one result row is in SPI_tuptable. */
static void
run_statement(BulkOperation *op, SPIPlanPtr plan, Datum *values, const char *what)
{
	int			rc = bulk_spi_execute_plan(plan, values, NULL, false);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "bulkorder: %s of %s/%s failed: %s", what, op->page, op->operation,
			 SPI_result_code_string(rc));
}

/* Run a lock statement, if the operation has one (it counts what it locked) */
static void
run_lock(BulkOperation *op, SPIPlanPtr plan, Datum *values)
{
	if (plan == NULL)
		return;
	run_statement(op, plan, values, "lock");	/* BULK_LOCK_COL_LOCKED */
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Lock the rows a change of these keys will update, in the shop's lock order
 * (rows of earlier tables, the page's rows, rows of later tables), each
 * statement in its own table's key order.  A transaction that takes all its
 * locks this way, in one go, can never deadlock with another that does: a
 * synchronous job calls this once with all its keys before its first chunk;
 * an asynchronous job's chunk is its own transaction and locks its chunk.
 * An operation whose run locks the page's rows itself, and locks no other
 * table's, has no lock statement (lock_plan NULL): its chunks, taken in key
 * order, lock in key order.
 */
static void
lock_phases(BulkOperation *op, Datum *values)
{
	run_lock(op, op->pre_lock_plan, values);
	run_lock(op, op->lock_plan, values);
	run_lock(op, op->extra_lock_plan, values);
}

void
bulk_lock_targets(BulkOperation *op, Jsonb *params, const int64 *keys, int count)
{
	Datum		values[2];

	if (!op->pre_lock_plan && !op->lock_plan && !op->extra_lock_plan)
		return;
	/* on Citus, one delegated call on the shop's node (citus.c) */
	if (bulk_citus_run_chunk(op, 0, params, keys, count, BULK_CHUNK_LOCK, NULL, NULL, NULL, NULL))
		return;
	values[0] = PointerGetDatum(bulk_keys_array(keys, count));
	values[1] = JsonbPGetDatum(params);
	lock_phases(op, values);
	pfree(DatumGetPointer(values[0]));
}

/*
 * The keys of a chunk the run did not change: keys (sorted, distinct) less
 * the run's changed targets (column col of its result, in any order).
 */
static ArrayType *
keys_not_changed(const int64 *keys, int count, int col, int nchanged)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	int64	   *changed = NULL;
	int64	   *rest = palloc(sizeof(int64) * count);
	int			nrest = 0,
				j = 0;

	if (!isnull)
	{
		BulkTargets list = bulk_array_keys(DatumGetArrayTypeP(d), "list of changed targets");

		if (list.count != nchanged)
			elog(ERROR, "bulkorder: the run returned %d changed targets for a count of %d",
				 list.count, nchanged);
		changed = list.keys;
		qsort(changed, nchanged, sizeof(int64), bulk_compare_int64);
	}
	for (int i = 0; i < count; i++)
	{
		while (j < nchanged && changed[j] < keys[i])
			j++;
		if (j < nchanged && changed[j] == keys[i])
			j++;
		else
			rest[nrest++] = keys[i];
	}
	if (count - nrest != nchanged)
		elog(ERROR, "bulkorder: the run changed %d targets, %d of them of its chunk",
			 nchanged, count - nrest);
	return bulk_keys_array(rest, nrest);
}

/*
 * The run of an operation with a fail_plan: change the targets that pass,
 * then record the others.  A target passing every rule in the fail_plan's
 * newer snapshot was changed by another transaction after the run's
 * snapshot (the run left it alone); this transaction holds its row now, so
 * the run goes again for those.  One still not changed is *not_applied.
 */
static void
apply_pipeline(BulkOperation *op, Datum *values, const int64 *keys, int count,
			   int64 *succeeded, int64 *failed, int64 *not_applied)
{
	bool		isnull;
	Datum		passing;
	ArrayType  *again = NULL;

	run_statement(op, op->run_plan, values, "run");
	*succeeded = result_int8(BULK_PIPELINE_COL_CHANGED);
	*failed = 0;
	*not_applied = 0;
	if (*succeeded < count)
		values[0] = PointerGetDatum(keys_not_changed(keys, count, BULK_PIPELINE_COL_TARGETS,
													 (int) *succeeded));
	SPI_freetuptable(SPI_tuptable);
	if (*succeeded == count)
		return;

	run_statement(op, op->fail_plan, values, "recording the failures");
	*failed = result_int8(BULK_FAIL_COL_FAILED);
	passing = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, BULK_FAIL_COL_PASSING,
							&isnull);
	if (!isnull)
		again = DatumGetArrayTypePCopy(passing);
	SPI_freetuptable(SPI_tuptable);
	if (again == NULL)
		return;

	values[0] = PointerGetDatum(again);
	*not_applied = ArrayGetNItems(ARR_NDIM(again), ARR_DIMS(again));
	run_statement(op, op->run_plan, values, "second run");
	*succeeded += result_int8(BULK_PIPELINE_COL_CHANGED);
	*not_applied -= result_int8(BULK_PIPELINE_COL_CHANGED);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Apply the operation to one chunk of sorted, distinct keys and record an
 * item per key.  Runs in the current transaction; the caller decides when
 * to commit.  Unless the caller has already locked them (locked), the
 * chunk's rows are locked first; the run statement then takes a new
 * snapshot and so sees the committed state of every row it changes.  An
 * operation with a fail_plan changes and records in the run only the
 * targets that pass; the fail_plan records the others, when there are any.
 */
void
bulk_apply_chunk(BulkOperation *op, int64 job_id, Jsonb *params,
				 const int64 *keys, int count, bool locked,
				 int64 *succeeded, int64 *failed)
{
	Datum		values[3];
	int64		not_applied = 0;

	/* on Citus, one delegated call on the shop's node (citus.c) */
	if (bulk_citus_run_chunk(op, job_id, params, keys, count,
							 locked ? BULK_CHUNK_APPLY_LOCKED : BULK_CHUNK_APPLY,
							 succeeded, failed, NULL, NULL))
		return;
	values[0] = PointerGetDatum(bulk_keys_array(keys, count));
	values[1] = JsonbPGetDatum(params);
	values[2] = Int64GetDatum(job_id);
	if (!locked)
		lock_phases(op, values);

	if (op->fail_plan)
		apply_pipeline(op, values, keys, count, succeeded, failed, &not_applied);
	else
	{
		run_statement(op, op->run_plan, values, "run");
		*succeeded = result_int8(BULK_RUN_COL_SUCCEEDED);
		*failed = result_int8(BULK_RUN_COL_FAILED);
		not_applied = result_int8(BULK_RUN_COL_NOT_APPLIED);
		SPI_freetuptable(SPI_tuptable);
	}

	if (not_applied > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_plural("operation %s/%s passed its checks for %lld target it did not change",
							   "operation %s/%s passed its checks for %lld targets it did not change",
							   (unsigned long) not_applied,
							   op->page, op->operation, (long long) not_applied),
				 bulk_errhint(op->fail_plan ? BMSG_NOT_APPLIED_TRIGGER : BMSG_NOT_APPLIED_APPLY_SQL,
							  NULL)));
	if (*succeeded + *failed != count)
		elog(ERROR, "bulkorder: %s/%s recorded %lld items for %d targets",
			 op->page, op->operation, (long long) (*succeeded + *failed), count);
}
