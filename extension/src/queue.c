/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The backend side of the job queue: submission of an asynchronous job,
 *	  cancel_job, start_worker, and the locks workers coordinate with.
 *
 * run_bulk(..., '{"async": true}') stores the job `queued` with its sorted,
 * distinct targets, cut into chunks, in bulkorder.bulk_job_chunks and its
 * normalized params, and registers a dynamic background worker for its
 * database (job_worker.c).  Without preloading, interrupted jobs resume at
 * the next asynchronous submission in their database or at
 * bulkorder.start_worker().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_cancel_job);
PG_FUNCTION_INFO_V1(bulkorder_start_worker);

#define BULK_SLOT_LOCK_CLASS	751001
#define BULK_JOB_LOCK_CLASS		751002

/* workers registered by this backend's current transaction */
static TransactionId registered_xid = InvalidTransactionId;
static int	registered_count = 0;

/* ----------------------------------------------------------------
 * Locks
 * ----------------------------------------------------------------
 */
void
bulk_job_locktag(LOCKTAG *tag, int64 job_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId,
						 (uint32) (BULK_JOB_LOCK_CLASS + ((uint64) job_id >> 32)),
						 (uint32) job_id, 2);
}

void
bulk_slot_locktag(LOCKTAG *tag, int slot)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, BULK_SLOT_LOCK_CLASS, (uint32) slot, 2);
}

bool
bulk_try_lock(LOCKTAG *tag, bool session)
{
	return LockAcquire(tag, ExclusiveLock, session, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* ----------------------------------------------------------------
 * Submission
 * ----------------------------------------------------------------
 */
/*
 * Make sure a worker will run the job the current transaction submits.
 * Each worker waits for this transaction to end and then runs every open
 * job it can claim, so a transaction submitting many jobs starts at most
 * bulkorder.max_workers workers.
 */
static void
start_worker_for_submission(void)
{
	TransactionId xid = GetTopTransactionId();

	if (!TransactionIdEquals(xid, registered_xid))
	{
		registered_xid = xid;
		registered_count = 0;
	}
	if (registered_count >= bulkorder_max_workers)
		return;
	if (bulk_register_worker(MyDatabaseId, xid, NULL))
	{
		registered_count++;
		return;
	}
	if (bulk_preloaded)
		ereport(NOTICE,
				(errmsg("no background worker is free: the job stays queued until the bulkorder launcher starts one"),
				 errdetail("The launcher looks for queued jobs every bulkorder.worker_naptime (%d s).",
						   bulkorder_worker_naptime),
				 errhint("Raise max_worker_processes.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a background worker for the asynchronous job"),
				 errdetail("Every background worker slot is in use."),
				 errhint("Raise max_worker_processes, or add bulkorder to shared_preload_libraries "
						 "so that its launcher starts the job as soon as a worker is free.")));
}

/*
 * Called by run_bulk for an accepted asynchronous job (already inserted as
 * 'queued', its acceptance notified): keep what the worker needs and wake
 * one up.
 */
void
bulk_submit_async(BulkOperation *op, int64 job_id, Jsonb *params, BulkTargets *targets)
{
	Oid			types[4] = {INT8OID, JSONBOID, INT4OID, TEXTOID};
	Datum		values[4];
	Oid			ctypes[5] = {INT8OID, INT4OID, INT8OID, INT8OID, INT8ARRAYOID};
	SPIPlanPtr	plan;

	values[0] = Int64GetDatum(job_id);
	values[1] = JsonbPGetDatum(params);
	values[2] = Int32GetDatum(bulkorder_chunk_size);
	values[3] = CStringGetTextDatum(GetConfigOption("bulkorder.language", false, false));
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET effective_params = $2, chunk_size = $3,"
				  " language = $4 WHERE job_id = $1",
				  4, types, values, NULL, false, SPI_OK_UPDATE);

	/* keys are sorted and distinct already: cut them into the job's chunks */
	plan = SPI_prepare("INSERT INTO bulkorder.bulk_job_chunks"
					   " (job_id, chunk_no, first_target, last_target, targets)"
					   " VALUES ($1, $2, $3, $4, $5)", 5, ctypes);
	if (plan == NULL)
		elog(ERROR, "bulkorder: could not prepare the chunk insert: %s",
			 SPI_result_code_string(SPI_result));
	for (int start = 0, chunk_no = 1; start < targets->count; start += bulkorder_chunk_size, chunk_no++)
	{
		int			n = Min(bulkorder_chunk_size, targets->count - start);
		Datum		cvalues[5];
		int			rc;

		CHECK_FOR_INTERRUPTS();
		cvalues[0] = Int64GetDatum(job_id);
		cvalues[1] = Int32GetDatum(chunk_no);
		cvalues[2] = Int64GetDatum(targets->keys[start]);
		cvalues[3] = Int64GetDatum(targets->keys[start + n - 1]);
		cvalues[4] = PointerGetDatum(bulk_keys_array(targets->keys + start, n));
		rc = SPI_execute_plan(plan, cvalues, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "bulkorder: chunk insert failed: %s", SPI_result_code_string(rc));
		pfree(DatumGetPointer(cvalues[4]));
	}
	SPI_freeplan(plan);

	bulk_set_db_state(MyDatabaseId, BULK_DB_HAS_EXTENSION);
	start_worker_for_submission();
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

/*
 * cancel_job(job_id bigint) RETURNS boolean
 *
 * A queued job is cancelled at once.  A running job is flagged and its
 * worker stops at the next chunk boundary (status cancelled, counts true to
 * what was applied, a notification); a 'running' job whose worker is gone
 * (a crash, no launcher) is cancelled at once.  A finished job (done,
 * cancelled, failed) -- every synchronous job, which nobody else can see
 * before it has finished -- returns false and nothing changes.
 */
Datum
bulkorder_cancel_job(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *status;
	bool		is_async;
	LOCKTAG		tag;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	/* waits at most for a worker's end-of-chunk update of the row */
	bulk_spi_exec("SELECT status, is_async, page, operation, coalesce(language, 'ja')"
				  " FROM bulkorder.bulk_jobs WHERE job_id = $1 FOR UPDATE",
				  1, types, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("bulk job %lld does not exist", (long long) job_id)));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(tup, desc, 1);
	is_async = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	if (!is_async || (strcmp(status, BULK_STATUS_QUEUED) != 0 && strcmp(status, BULK_STATUS_RUNNING) != 0))
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}

	bulk_job_locktag(&tag, job_id);
	if (strcmp(status, BULK_STATUS_QUEUED) == 0 || bulk_try_lock(&tag, false))
	{
		/* no worker runs it: cancel now, in the job's language */
		char	   *page = SPI_getvalue(tup, desc, 3);
		char	   *operation = SPI_getvalue(tup, desc, 4);
		char	   *language = SPI_getvalue(tup, desc, 5);
		int			nest = NewGUCNestLevel();
		BulkOperation *op;

		(void) set_config_option("bulkorder.language", language, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		op = bulk_lookup_operation(page, operation);
		bulk_finish_job(op, job_id, BULK_STATUS_CANCELLED);
		bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET cancel_requested = true WHERE job_id = $1",
					  1, types, values, NULL, false, SPI_OK_UPDATE);
		AtEOXact_GUC(true, nest);
	}
	else
		bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET cancel_requested = true WHERE job_id = $1",
					  1, types, values, NULL, false, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * start_worker() RETURNS boolean
 *
 * Start a job worker for this database now (it runs every open job no other
 * worker runs, then exits).  Without shared_preload_libraries, this is how
 * jobs left 'running' by a restart resume before the next submission.
 */
Datum
bulkorder_start_worker(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bulk_register_worker(MyDatabaseId, GetTopTransactionIdIfAny(), NULL));
}
