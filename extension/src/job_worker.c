/*-------------------------------------------------------------------------
 *
 * job_worker.c
 *	  The job worker: a background worker connected to one database that runs
 *	  its open asynchronous jobs, chunk by chunk.
 *
 * A worker is started once a submission has committed (queue.c) or by the
 * launcher, so it never waits for a transaction.  It first takes a job
 * worker slot of its database (launcher.c): at most bulkorder.max_workers
 * workers of one database exist at any time.
 *
 * Jobs take turns by chunk.  A worker claims the open job served least
 * recently (bulk_jobs.last_chunk_at; a job never served first), runs one
 * chunk of it, and claims again; a small job submitted while large jobs
 * run thus starts after at most one chunk of each worker, whatever their
 * size.  Each chunk is one transaction that commits together: the changes,
 * their items, the job's counts, bulk_jobs.last_target (the resume cursor)
 * and last_chunk_at.  A crash therefore loses at most the chunk in flight,
 * and the next worker redoes exactly that chunk.
 *
 * The worker running a chunk holds the job's lock (queue.c), a lock tag no
 * SQL caller can take: two workers never run one job at once, and
 * cancel_job tells whether a chunk is in flight.  A worker exits as soon as
 * it finds no job to claim: it first gives up its slot, then looks once
 * more, so a job committed while every slot was taken is still seen by a
 * slot holder.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "bulkorder.h"

PGDLLEXPORT void bulkorder_worker_main(Datum main_arg);

#define BULK_RETRIES			3

static MemoryContext worker_ctx = NULL;
static MemoryContext chunk_ctx = NULL;

static void
begin_txn(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
end_txn(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Run fn in a PG_TRY: on error, log it, roll back and hand a copy of the
 * error back (allocated in worker_ctx); NULL when fn succeeded.
 */
static ErrorData *
guarded(void (*fn) (void *), void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ErrorData  *volatile err = NULL;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(worker_ctx);
		err = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	/* called between transactions only: oldcxt is not a transaction's */
	MemoryContextSwitchTo(oldcxt);
	return err;
}

static void
release_job(int64 job_id)
{
	LOCKTAG		tag;

	bulk_job_locktag(&tag, job_id);
	LockRelease(&tag, ExclusiveLock, true);
}

typedef struct StartupArgs
{
	bool		has_extension;
	bool		version_ok;
} StartupArgs;

static void
startup_txn(void *arg)
{
	StartupArgs *a = (StartupArgs *) arg;

	begin_txn("bulkorder: starting");
	a->has_extension = OidIsValid(get_extension_oid("bulkorder", true));
	/* another version's objects: the jobs wait for ALTER EXTENSION UPDATE */
	a->version_ok = a->has_extension && bulk_installed_version_matches();
	/* the same search path as run_bulk's */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	end_txn();
}

typedef struct ClaimArgs
{
	bool		keep;			/* false: only tell whether one is claimable */
	int64		job_id;			/* out: 0 when none */
	int64		shop_id;		/* out: its shop */
} ClaimArgs;

/*
 * Claim the open asynchronous job served least recently whose chunk no
 * other worker is running: take its job lock and mark it running.  With
 * keep = false, only find out whether there is one.
 */
static void
claim_txn(void *arg)
{
	ClaimArgs  *a = (ClaimArgs *) arg;
	Oid			types[2] = {INT8OID, INT8OID};
	int64	   *ids;
	int64	   *shops;
	uint64		n;

	a->job_id = 0;
	begin_txn("bulkorder: looking for jobs");
	/* every shop's jobs: they take turns as those of different roles do */
	bulk_spi_exec("SELECT job_id, shop_id FROM bulkorder.bulk_jobs"
				  " WHERE status IN " BULK_SQL_OPEN_STATUSES " AND is_async"
				  " ORDER BY last_chunk_at NULLS FIRST, job_id LIMIT 1000",
				  0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	n = SPI_processed;
	ids = palloc(sizeof(int64) * Max(n, 1));
	shops = palloc(sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		shops[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	for (uint64 i = 0; i < n && a->job_id == 0; i++)
	{
		LOCKTAG		tag;
		Datum		values[2] = {Int64GetDatum(ids[i]), Int64GetDatum(shops[i])};

		bulk_job_locktag(&tag, ids[i]);
		if (!bulk_try_lock(&tag, true))
			continue;			/* another worker runs it */
		if (!a->keep)
		{
			LockRelease(&tag, ExclusiveLock, true);
			a->job_id = ids[i];
			break;
		}
		/*
		 * A fresh snapshot: it may have ended since the list was read.  Only
		 * its first turn writes the row here; the chunk checks the status.
		 */
		bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = '" BULK_STATUS_RUNNING "',"
					  " started_at = coalesce(started_at, clock_timestamp())"
					  " WHERE shop_id = $2 AND job_id = $1 AND status = '" BULK_STATUS_QUEUED "'",
					  2, types, values, NULL, false, SPI_OK_UPDATE);
		a->job_id = ids[i];
		a->shop_id = shops[i];
	}
	end_txn();
}

typedef struct ChunkArgs
{
	int64		job_id;
	int64		shop_id;
} ChunkArgs;

static int64
col_int8(int col, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull));
}

/*
 * One chunk, one transaction: the next targets after the cursor, applied by
 * the engine, with the counts and the cursor moved in the same commit.
 */
static void
chunk_txn(void *arg)
{
	ChunkArgs  *a = (ChunkArgs *) arg;
	Oid			types[3] = {INT8OID, INT8OID, INT4OID};
	Datum		values[4];
	Oid			utypes[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
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
	MemoryContext oldcxt;

	begin_txn("bulkorder: running a job");
	oldcxt = MemoryContextSwitchTo(chunk_ctx);
	/* every statement of the chunk in the job's shop (shop.c) */
	bulk_confine(a->shop_id);

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
	bulk_spi_exec("SELECT status, cancel_requested, last_target, page, operation,"
				  " coalesce(effective_params, params), coalesce(chunk_size, 10000),"
				  " coalesce(language, 'ja'), total_count, processed_count"
				  " FROM bulkorder.bulk_jobs WHERE job_id = $1",
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
	SPI_freetuptable(SPI_tuptable);
	if (strcmp(status, BULK_STATUS_RUNNING) != 0)
		goto out;				/* cancelled while queued, or ended */

	/* messages in the submitter's language */
	SetConfigOption("bulkorder.language", language, PGC_USERSET, PGC_S_SESSION);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("bulkorder: job %lld %s/%s: %lld of %lld",
									(long long) a->job_id, page, operation,
									(long long) processed, (long long) total));
	op = bulk_lookup_job_operation(page, operation, params, a->job_id);
	if (cancel)
	{
		bulk_finish_job(op, a->job_id, BULK_STATUS_CANCELLED);
		goto out;
	}
	/* the whole-job checks again: the catalogue may have changed since */
	params = bulk_check_params(op, params);

	/* the next chunk: the first after the cursor */
	values[1] = Int64GetDatum(cursor);
	bulk_spi_exec("SELECT targets FROM bulkorder.bulk_job_chunks"
				  " WHERE job_id = $1 AND ($2::bigint IS NULL OR first_target > $2)"
				  " ORDER BY first_target LIMIT 1",
				  2, types, values, has_cursor ? NULL : " n", true, SPI_OK_SELECT);
	n = 0;
	keys = NULL;
	if (SPI_processed == 1)
	{
		ArrayType  *arr = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc, 1, &isnull));

		if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID)
			elog(ERROR, "bulkorder: malformed chunk of job %lld", (long long) a->job_id);
		n = ArrayGetNItems(1, ARR_DIMS(arr));
		keys = (int64 *) ARR_DATA_PTR(arr);
	}
	SPI_freetuptable(SPI_tuptable);

	if (n > 0)
	{
		bulk_apply_chunk(op, a->job_id, params, keys, n, false, &ok, &ng);
		values[1] = Int64GetDatum(ok);
		values[2] = Int64GetDatum(ng);
		values[3] = Int64GetDatum(keys[n - 1]);
		bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET processed_count = processed_count + $2 + $3,"
					  " success_count = success_count + $2, failure_count = failure_count + $3,"
					  " last_target = $4, last_chunk_at = clock_timestamp()"
					  " WHERE job_id = $1 RETURNING processed_count",
					  4, utypes, values, NULL, false, SPI_OK_UPDATE_RETURNING);
		processed = col_int8(1, &isnull);
		SPI_freetuptable(SPI_tuptable);
	}
	if (n < chunk || processed >= total)
		bulk_finish_job(op, a->job_id, BULK_STATUS_DONE);

out:
	SetUserIdAndSecContext(save_userid, save_sec);
	MemoryContextSwitchTo(oldcxt);
	end_txn();
	bulk_confine(0);
}

typedef struct FailArgs
{
	int64		job_id;
	int64		shop_id;
	ErrorData  *err;
} FailArgs;

/* status failed with the error; the committed chunks stay */
static void
fail_txn(void *arg)
{
	FailArgs   *a = (FailArgs *) arg;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *language;
	char	   *message = a->err->message ? a->err->message : "unknown error";

	begin_txn("bulkorder: recording a failed job");
	bulk_confine(a->shop_id);
	values[0] = Int64GetDatum(a->job_id);
	values[1] = CStringGetTextDatum(message);
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = '" BULK_STATUS_FAILED "', error_message = $2,"
				  " finished_at = clock_timestamp()"
				  " WHERE job_id = $1 AND status IN " BULK_SQL_OPEN_STATUSES
				  " RETURNING coalesce(language, 'ja'), page, operation, success_count, failure_count",
				  2, types, values, NULL, false, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 1)
	{
		char	   *page,
				   *operation;
		int64		ok,
					ng;
		Oid			ntypes[3] = {TEXTOID, TEXTOID, BOOLOID};
		Datum		nvalues[3];

		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		language = SPI_getvalue(tup, desc, 1);
		page = SPI_getvalue(tup, desc, 2);
		operation = SPI_getvalue(tup, desc, 3);
		ok = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		ng = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		SetConfigOption("bulkorder.language", language, PGC_USERSET, PGC_S_SESSION);

		/* display names without the engine: the catalogue may be what broke */
		nvalues[0] = CStringGetTextDatum(page);
		nvalues[1] = CStringGetTextDatum(operation);
		nvalues[2] = BoolGetDatum(bulkorder_language == BULK_LANG_EN);
		bulk_spi_exec("SELECT coalesce((SELECT CASE WHEN $3 THEN name_en ELSE name_ja END"
					  "                   FROM bulkorder_catalog.pages WHERE page = $1), $1),"
					  "        coalesce((SELECT CASE WHEN $3 THEN name_en ELSE name_ja END"
					  "                   FROM bulkorder_catalog.operations WHERE page = $1 AND operation = $2), $2)",
					  3, ntypes, nvalues, NULL, true, SPI_OK_SELECT);
		page = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		operation = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		bulk_notify(a->job_id, bulk_failure_message(page, operation, a->job_id, ok, ng,
												   message));
	}
	end_txn();
	bulk_confine(0);
}

static bool
retryable(ErrorData *err)
{
	return err->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		err->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED;
}

static void
nap(long ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * One turn of a claimed job (its lock held): its next chunk, redone after a
 * deadlock or serialization failure, or the job failed.
 */
static void
run_turn(int64 job_id, int64 shop_id)
{
	int			attempt = 0;

	for (;;)
	{
		ChunkArgs	args = {job_id, shop_id};
		ErrorData  *err;

		CHECK_FOR_INTERRUPTS();
		bulk_process_reload();
		err = guarded(chunk_txn, &args);
		MemoryContextReset(chunk_ctx);
		if (err == NULL)
			return;
		/* a deadlock or serialization failure with another session: redo the chunk */
		if (retryable(err) && ++attempt < BULK_RETRIES)
		{
			FreeErrorData(err);
			nap(100L * attempt);
			continue;
		}
		{
			FailArgs	fa = {job_id, shop_id, err};
			ErrorData  *err2 = guarded(fail_txn, &fa);

			if (err2)
				proc_exit(0);	/* the database is going away: nothing to record in */
		}
		FreeErrorData(err);
		return;
	}
}

void
bulkorder_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	int			slot;
	StartupArgs startup = {false, false};

	bulk_bgworker_setup();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	worker_ctx = AllocSetContextCreate(TopMemoryContext, "bulkorder worker",
									   ALLOCSET_DEFAULT_SIZES);
	chunk_ctx = AllocSetContextCreate(TopMemoryContext, "bulkorder job chunk",
									  ALLOCSET_DEFAULT_SIZES);

	/* the slot reserved for this worker; none: enough workers are there */
	memcpy(&slot, MyBgworkerEntry->bgw_extra, sizeof(slot));
	if (!bulk_slot_attach(dboid, slot))
		proc_exit(0);
	if (guarded(startup_txn, &startup))
		proc_exit(0);
	bulk_set_db_state(dboid, startup.has_extension ? BULK_DB_HAS_EXTENSION : BULK_DB_NO_EXTENSION);
	if (!startup.version_ok)
		proc_exit(0);

	for (;;)
	{
		ClaimArgs	claim;

		/* one chunk per turn, then the job served least recently */
		for (;;)
		{
			claim.keep = true;
			CHECK_FOR_INTERRUPTS();
			bulk_process_reload();
			if (guarded(claim_txn, &claim))
				proc_exit(0);
			if (claim.job_id == 0)
				break;
			run_turn(claim.job_id, claim.shop_id);
			release_job(claim.job_id);
		}
		bulk_slot_release();
		/* after giving up the slot, one more look: nothing may be left behind */
		claim.keep = false;
		if (guarded(claim_txn, &claim) || claim.job_id == 0)
			break;
		/* every slot taken again: their holders look before they exit */
		if (!bulk_slot_attach(dboid, -1))
			break;
	}
	proc_exit(0);
}
