/*-------------------------------------------------------------------------
 *
 * job_chunk.c
 *	  One chunk of an asynchronous job, in a job worker's transaction
 *	  (job_worker.c): the next targets after the job's cursor, applied by
 *	  the engine, with the job's counts and cursor moved in the same commit.
 *
 * A chunk whose rows another transaction holds fails with a lock timeout
 * and is set aside by the worker (job_worker.c).  Once its rows have been
 * held for bulkorder.lock_give_up, the worker runs it as a give-up pass:
 * every target whose rows are free is applied, and each target whose rows
 * are still held gets a failed item row_locked (retry_failed can take it),
 * so that the job moves on past the chunk as after any chunk.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "bulkorder.h"

/*
 * The longest lock wait of a give-up pass.  The pass locks the page's rows
 * before those of earlier tables in the shop's lock order (customers of
 * orders), so it must never wait long enough for a deadlock to be detected
 * (deadlock_timeout, 1 s by default): at that point the rows have been held
 * for bulkorder.lock_give_up already, and a target whose rows are held now
 * is what row_locked reports.
 */
#define BULK_GIVE_UP_WAIT_MS	100

/*
 * A target whose rows were held through a give-up pass: the job's items
 * record it as failed, in the job's language, and retry_failed can take it.
 */
static void
record_row_locked(int64 job_id, const int64 *keys, int n)
{
	Oid			types[3] = {INT8OID, INT8ARRAYOID, TEXTOID};
	Datum		values[3];

	if (n == 0)
		return;
	values[0] = Int64GetDatum(job_id);
	values[1] = PointerGetDatum(bulk_keys_array(keys, n));
	values[2] = CStringGetTextDatum(bulk_message(BMSG_ITEM_ROW_LOCKED, NULL));
	bulk_spi_exec("INSERT INTO bulkorder.bulk_job_items (job_id, target, ok, error_code, message)"
				  " SELECT $1, k, false, 'row_locked', $3 FROM unnest($2::bigint[]) k",
				  3, types, values, NULL, false, SPI_OK_INSERT);
}

typedef struct GiveUp
{
	BulkOperation *op;
	int64		job_id;
	Jsonb	   *params;
	int64		ok;
	int64		ng;
	int64	   *held;			/* the targets found held, in key order */
	int			nheld;
} GiveUp;

/*
 * Apply keys[0..n) in a subtransaction.  Rows held by another transaction
 * roll it back: then each half is tried on its own, down to the targets
 * whose own rows are held, which go to g->held.  Any other error ends the
 * chunk as usual.
 */
static void
apply_part(GiveUp *g, const int64 *keys, int n)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		held = false;

	if (n == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		int64		ok,
					ng;

		bulk_apply_chunk(g->op, g->job_id, g->params, keys, n, false, &ok, &ng);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		g->ok += ok;
		g->ng += ng;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		FreeErrorData(edata);
		held = true;
	}
	PG_END_TRY();
	if (!held)
		return;
	if (n == 1)
		g->held[g->nheld++] = keys[0];
	else
	{
		apply_part(g, keys, n / 2);
		apply_part(g, keys + n / 2, n - n / 2);
	}
}

/*
 * The give-up pass of a chunk whose rows have been held for
 * bulkorder.lock_give_up: apply every target it can, and fail those whose
 * rows are still held with row_locked.  First the page's own rows, the
 * usual case (an open transaction that changed the same orders): one
 * statement locks those that are free, in key order, and skips those held
 * (SKIP LOCKED), which are the held targets.  Then the others are applied;
 * should rows of other tables (customers, subscriptions) be held, the
 * targets are tried in halves until those that hold them are found.
 */
static void
give_up_chunk(GiveUp *g, const char *page, const int64 *keys, int n)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	Oid			ptypes[1] = {INT8ARRAYOID};
	Datum		pvalues[1];
	char	   *table;
	const char *key;
	bool		isnull;
	ArrayType  *arr;
	BulkTargets held_list;
	int64	   *page_held;
	int			npage_held;
	int64	   *rest;
	int			nrest = 0;
	StringInfoData sql;

	g->held = palloc(sizeof(int64) * Max(n, 1));
	g->nheld = 0;
	values[0] = CStringGetTextDatum(page);
	bulk_spi_exec("SELECT target_table, key_column FROM bulkorder_catalog.pages WHERE page = $1",
				  1, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "bulkorder: page \"%s\" is not in the catalogue", page);
	table = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	key = quote_identifier(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	SPI_freetuptable(SPI_tuptable);

	/* one snapshot for both scans: a row seen and not locked is held */
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH free AS (SELECT t.%s AS k FROM %s t WHERE t.%s = ANY ($1)"
					 "              ORDER BY t.%s FOR NO KEY UPDATE OF t SKIP LOCKED)"
					 " SELECT coalesce(array_agg(t.%s ORDER BY t.%s), '{}') FROM %s t"
					 " WHERE t.%s = ANY ($1) AND t.%s NOT IN (SELECT k FROM free)",
					 key, table, key, key, key, key, table, key, key);
	pvalues[0] = PointerGetDatum(bulk_keys_array(keys, n));
	bulk_spi_exec(sql.data, 1, ptypes, pvalues, NULL, false, SPI_OK_SELECT);
	arr = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	held_list = bulk_array_keys(arr, "list of held targets");
	npage_held = held_list.count;
	page_held = held_list.keys;

	/* the others, in key order: both lists are sorted */
	rest = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0, j = 0; i < n; i++)
	{
		while (j < npage_held && page_held[j] < keys[i])
			j++;
		if (j < npage_held && page_held[j] == keys[i])
			g->held[g->nheld++] = keys[i];
		else
			rest[nrest++] = keys[i];
	}
	apply_part(g, rest, nrest);
	/* the ones found in halves came after: the items' order is the key's */
	qsort(g->held, g->nheld, sizeof(int64), bulk_compare_int64);
}

/*
 * The run of the job's next chunk has ended and the worker lives on: a
 * later run that finds run_started_at set counts a crash (job_worker.c's
 * mark_run).
 */
void
bulk_end_chunk_run(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};

	bulk_spi_exec("UPDATE bulkorder.bulk_job_chunks SET run_started_at = NULL"
				  " WHERE job_id = $1 AND run_started_at IS NOT NULL",
				  1, types, values, NULL, false, SPI_OK_UPDATE);
}

/*
 * The give-up pass of keys[0..n) of the job, in this transaction: where the
 * shop's rows are (the worker's chunk on one node; on Citus, the delegated
 * call on the shop's node, citus.c).  *held: the targets that fail with
 * row_locked, in key order.
 */
void
bulk_give_up_chunk(BulkOperation *op, int64 job_id, Jsonb *params, const int64 *keys, int n,
				   int64 *succeeded, int64 *failed, int64 **held, int *nheld)
{
	GiveUp		g = {op, job_id, params, 0, 0, NULL, 0};

	give_up_chunk(&g, op->page, keys, n);
	*succeeded = g.ok;
	*failed = g.ng;
	*held = g.held;
	*nheld = g.nheld;
}

/*
 * One chunk, in the worker's transaction: the next targets after the
 * cursor, applied by the engine, with the counts and the cursor moved in
 * the same commit.  Run as the extension's owner, as run_bulk (SECURITY
 * DEFINER) runs.
 */
void
bulk_run_chunk(BulkChunk *a)
{
	Oid			types[3] = {INT8OID, INT8OID, INT4OID};
	Datum		values[4];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull,
				has_cursor,
				cancel;
	char	   *status,
			   *page,
			   *operation,
			   *language;
	Jsonb	   *params;
	int64		cursor,
				total,
				processed,
				ok,
				ng;
	int			chunk,
				n;
	int64	   *keys;
	Oid			owner,
				save_userid;
	int			save_sec;
	BulkOperation *op;

	/* run as the extension's owner, as run_bulk (SECURITY DEFINER) does */
	bulk_spi_exec("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'bulkorder'",
				  0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"bulkorder\" is not installed in this database")));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);

	values[0] = Int64GetDatum(a->job_id);
	bulk_spi_exec("SELECT status, cancel_requested"
				  "   OR EXISTS (SELECT FROM bulkorder.bulk_job_cancel_requests r WHERE r.job_id = j.job_id),"
				  " last_target, page, operation,"
				  " coalesce(effective_params, params), coalesce(chunk_size, 10000),"
				  " coalesce(language, 'ja'), total_count, processed_count,"
				  " lock_timeout_ms, lock_give_up_ms"
				  " FROM bulkorder.bulk_jobs j WHERE job_id = $1",
				  1, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed != 1)
		goto out;				/* deleted under us */
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(tup, desc, 1);
	cancel = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	cursor = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	has_cursor = !isnull;
	page = SPI_getvalue(tup, desc, 4);
	operation = SPI_getvalue(tup, desc, 5);
	params = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 6, &isnull));
	chunk = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	language = SPI_getvalue(tup, desc, 8);
	total = DatumGetInt64(SPI_getbinval(tup, desc, 9, &isnull));
	processed = DatumGetInt64(SPI_getbinval(tup, desc, 10, &isnull));
	/* jobs queued by 1.1 have neither: the worker's own settings */
	a->lock_timeout_ms = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
	if (isnull)
		a->lock_timeout_ms = bulkorder_lock_timeout;
	a->lock_give_up_ms = DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
	if (isnull)
		a->lock_give_up_ms = bulkorder_lock_give_up;
	SPI_freetuptable(SPI_tuptable);
	if (strcmp(status, BULK_STATUS_RUNNING) != 0)
		goto out;				/* cancelled while queued, or ended */
	bulk_set_lock_timeout(a->give_up ? Min(a->lock_timeout_ms, BULK_GIVE_UP_WAIT_MS) : a->lock_timeout_ms);

	/* messages in the submitter's language */
	SetConfigOption("bulkorder.language", language, PGC_USERSET, PGC_S_SESSION);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("bulkorder: job %lld %s/%s: %lld of %lld",
									(long long) a->job_id, page, operation,
									(long long) processed, (long long) total));
	op = bulk_lookup_job_operation(page, operation, params, a->job_id);
	if (cancel)
	{
		/* asked inside a transaction block: the first request is who cancelled */
		bulk_record_cancel(a->job_id, NULL, NULL);
		bulk_finish_job(op, a->job_id, BULK_STATUS_CANCELLED);
		goto out;
	}
	/* the whole-job checks again: the catalogue may have changed since */
	params = bulk_check_params(op, params);

	/* the next chunk: the first after the cursor */
	values[1] = Int64GetDatum(cursor);
	bulk_spi_exec("SELECT targets, first_target FROM bulkorder.bulk_job_chunks"
				  " WHERE job_id = $1 AND ($2::bigint IS NULL OR first_target > $2)"
				  " ORDER BY first_target LIMIT 1",
				  2, types, values, has_cursor ? NULL : " n", true, SPI_OK_SELECT);
	n = 0;
	keys = NULL;
	if (SPI_processed == 1)
	{
		BulkTargets chunk = bulk_array_keys(DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
																				 SPI_tuptable->tupdesc, 1, &isnull)),
											psprintf("chunk of job %lld", (long long) a->job_id));

		n = chunk.count;
		keys = chunk.keys;
		a->has_chunk = true;
		a->first_target = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	if (n > 0)
	{
		int64		nheld = 0;

		a->in_targets = true;
		if (a->give_up)
		{
			int64	   *held;
			int			count_held;

			/* on Citus, one delegated call on the shop's node (citus.c) */
			if (!bulk_citus_run_chunk(op, a->job_id, params, keys, n, BULK_CHUNK_GIVE_UP,
									  &ok, &ng, &held, &count_held))
				bulk_give_up_chunk(op, a->job_id, params, keys, n, &ok, &ng, &held, &count_held);
			record_row_locked(a->job_id, held, count_held);
			nheld = count_held;
			if (count_held > 0)
				ereport(LOG,
						(errmsg_plural("bulkorder: job %lld: %d target failed with row_locked, its rows held for more than %d ms",
									   "bulkorder: job %lld: %d targets failed with row_locked, their rows held for more than %d ms",
									   count_held, (long long) a->job_id, count_held, a->lock_give_up_ms),
						 errdetail("Targets %lld to %lld: the first held is %lld.",
								   (long long) keys[0], (long long) keys[n - 1], (long long) held[0])));
		}
		else
			bulk_apply_chunk(op, a->job_id, params, keys, n, false, &ok, &ng);
		a->in_targets = false;
		processed = bulk_advance_job(a->job_id, ok, ng + nheld, keys[n - 1]);
	}
	if (n < chunk || processed >= total)
		bulk_finish_job(op, a->job_id, BULK_STATUS_DONE);

out:
	SetUserIdAndSecContext(save_userid, save_sec);
}

