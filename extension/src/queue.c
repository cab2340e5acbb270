/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The backend side of the job queue: submission of an asynchronous job,
 *	  cancel_job and start_worker.
 *
 * run_bulk(..., '{"async": true}') stores the job `queued` with its sorted,
 * distinct targets, cut into chunks, in bulkorder.bulk_job_chunks and its
 * normalized params; when the submitting transaction commits, a dynamic
 * background worker (job_worker.c) is started for its database unless
 * bulkorder.max_workers of them are there already.  Without preloading,
 * interrupted jobs resume at the next asynchronous submission in their
 * database or at bulkorder.start_worker().  The locks workers coordinate
 * with are locks.c's.
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
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_cancel_job);
PG_FUNCTION_INFO_V1(bulkorder_start_worker);

/*
 * This transaction submitted an asynchronous job, or asked to cancel one:
 * start a worker at commit.
 */
static bool submitted_in_xact = false;
static bool xact_callback_registered = false;

/*
 * The asynchronous jobs this transaction submitted (in TopTransactionContext):
 * cancel_job knows its own rows by them where a row's xmin is not this
 * transaction's (on Citus, the row is another node's).
 */
static List *submitted_jobs = NIL;

/* ----------------------------------------------------------------
 * Submission
 * ----------------------------------------------------------------
 */

/*
 * Start a job worker for this database unless bulkorder.max_workers of its
 * workers exist already (each looks at the queue again before it exits, so
 * what this backend has committed is seen).  False when no background
 * worker process is free.  Never throws: it runs after commit too.
 */
static bool
try_start_worker(void)
{
	int			slot = bulk_slot_reserve(MyDatabaseId);

	if (slot == -1)
		return true;
	if (bulk_register_worker(MyDatabaseId, slot))
		return true;
	bulk_slot_unreserve(slot);
	return false;
}

/* After commit: a worker that cannot be started is a message, not an error. */
static void
start_worker_after_commit(void)
{
	if (try_start_worker())
		return;
	if (bulk_preloaded)
		ereport(NOTICE,
				(errmsg("no background worker is free: the job stays queued until the bulkorder launcher starts one"),
				 bulk_errdetail(BMSG_WORKER_NOT_FREE, psprintf("%d", bulkorder_worker_naptime)),
				 bulk_errhint(BMSG_RAISE_MAX_WORKER_PROCESSES, NULL)));
	else
		ereport(WARNING,
				(errmsg("could not start a background worker for the asynchronous job"),
				 bulk_errdetail(BMSG_WORKER_SLOTS_IN_USE, NULL),
				 bulk_errhint(BMSG_RAISE_OR_PRELOAD, NULL)));
}

/*
 * The worker is started once the submission has committed: it never waits
 * for a transaction (an open one could keep it, and its background worker
 * slot, forever), and a rolled-back submission starts nothing.
 */
static void
queue_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_ABORT)
		submitted_jobs = NIL;	/* freed with TopTransactionContext */
	if (!submitted_in_xact)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			submitted_in_xact = false;
			start_worker_after_commit();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared submission is started by the launcher or the next one */
			submitted_in_xact = false;
			break;
		default:
			break;
	}
}

/* Start a worker when this transaction commits (queue_xact_callback). */
static void
start_worker_at_commit(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(queue_xact_callback, NULL);
		xact_callback_registered = true;
	}
	submitted_in_xact = true;
}

/*
 * Called by run_bulk for an accepted asynchronous job (already inserted as
 * 'queued', its acceptance notified): keep what the worker needs; a worker
 * is started when the transaction commits.
 */
void
bulk_submit_async(BulkOperation *op, int64 job_id, Jsonb *params, BulkTargets *targets)
{
	Oid			types[6] = {INT8OID, JSONBOID, INT4OID, TEXTOID, INT4OID, INT4OID};
	Datum		values[6];
	Oid			ctypes[5] = {INT8OID, INT4OID, INT8OID, INT8OID, INT8ARRAYOID};
	SPIPlanPtr	plan;

	values[0] = Int64GetDatum(job_id);
	values[1] = JsonbPGetDatum(params);
	values[2] = Int32GetDatum(bulkorder_chunk_size);
	values[3] = CStringGetTextDatum(GetConfigOption("bulkorder.language", false, false));
	values[4] = Int32GetDatum(bulkorder_lock_timeout);
	values[5] = Int32GetDatum(bulkorder_lock_give_up);
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET effective_params = $2, chunk_size = $3,"
				  " language = $4, lock_timeout_ms = $5, lock_give_up_ms = $6 WHERE job_id = $1",
				  6, types, values, NULL, false, SPI_OK_UPDATE);

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
		rc = bulk_spi_execute_plan(plan, cvalues, NULL, false);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "bulkorder: chunk insert failed: %s", SPI_result_code_string(rc));
		pfree(DatumGetPointer(cvalues[4]));
	}
	SPI_freeplan(plan);

	bulk_set_db_state(MyDatabaseId, BULK_DB_HAS_EXTENSION);
	start_worker_at_commit();
	{
		int64	   *id = MemoryContextAlloc(TopTransactionContext, sizeof(int64));
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		*id = job_id;
		submitted_jobs = lappend(submitted_jobs, id);
		MemoryContextSwitchTo(old);
	}
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

/*
 * Whether the caller's transaction can outlive the statement: a transaction
 * block opened with BEGIN (or a subtransaction).  A single statement, or the
 * implicit block of a multi-statement query string, ends with that string.
 * PostgreSQL tells the two blocks apart only in its block state, which no
 * function reports; EndImplicitTransactionBlock() turns an implicit block
 * into a single-statement transaction and leaves every other state alone, so
 * if the block is gone after it, it was implicit, and
 * BeginImplicitTransactionBlock() puts it back exactly as exec_simple_query
 * made it.  Nothing runs in between.
 */
static bool
in_explicit_transaction_block(void)
{
	if (!IsTransactionBlock())
		return false;
	EndImplicitTransactionBlock();
	if (IsTransactionBlock())
		return true;
	BeginImplicitTransactionBlock();
	return false;
}

/*
 * cancel_job(job_id bigint, options jsonb DEFAULT '{}') RETURNS boolean
 *
 * A job no worker is running a chunk of (queued, between two chunks, set
 * aside, or left 'running' by a crash) is cancelled at once.  While a chunk
 * runs, the job is flagged and its worker stops at the chunk's end (status
 * cancelled, counts true to what was applied, a notification).  Who asked
 * is recorded (bulk_jobs.cancelled_by, the calling role, and
 * cancelled_by_operator, options.operator) and named in the notification;
 * the first cancel of a job is the one recorded.  A finished job (done,
 * cancelled, failed) -- every synchronous job, which nobody else can see
 * before it has finished -- returns false and nothing changes.  An unknown
 * job id is 22023, as in every function that takes one.
 *
 * It holds no lock past its own statement, so that no open transaction can
 * stall the worker (docs/async.md).  Called on its own (a transaction that ends
 * with the statement, or with its query string), or on a job its own
 * transaction submitted, it changes the job's row: the cancel shows at
 * once.  Inside a BEGIN ... COMMIT block, for a job of another transaction,
 * a change of the job's row would stay locked until the block ends, and
 * the worker, which updates that row at the end of every chunk, would wait
 * for it: there the cancel is a row of bulk_job_cancel_requests, which
 * nothing waits for.  When the block commits, the job stops at its next
 * chunk boundary, or at once in a worker's next turn when none runs a
 * chunk of it (a worker is started at the commit, as for a submission).
 */
Datum
bulkorder_cancel_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	char	   *operator_name;
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = "   ";
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *status;
	char	   *page;
	char	   *operation;
	char	   *language;
	bool		is_async;
	bool		own_row;
	bool		running_chunk;
	LOCKTAG		tag;
	BulkJobOptions opts;
	int64		previous;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	/* 1.0's cancel_job(bigint) calls this until ALTER EXTENSION UPDATE */
	bulk_check_installed_version();
	job_id = PG_GETARG_INT64(0);
	/* operator (the person a pooled role acts for) and shop */
	opts = bulk_parse_options(PG_NARGS() < 2 || PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
							  false, NULL, NULL, BMSG_CANCEL_OPTION_UNKNOWN);
	operator_name = opts.operator_name;
	previous = bulk_confine(bulk_resolve_shop(opts.shop));
	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	if (operator_name)
		values[2] = CStringGetTextDatum(operator_name);
	else
		nulls[2] = 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	/* no lock: a worker may be updating the row, this reads it as committed */
	bulk_select_job(job_id, "status, is_async, page, operation, coalesce(language, 'ja'), xmin");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(tup, desc, 1);
	is_async = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	page = SPI_getvalue(tup, desc, 3);
	operation = SPI_getvalue(tup, desc, 4);
	language = SPI_getvalue(tup, desc, 5);
	/* inserted or already changed by this transaction: its lock is ours anyway */
	own_row = TransactionIdIsCurrentTransactionId(DatumGetTransactionId(SPI_getbinval(tup, desc, 6, &isnull)));
	foreach(lc, submitted_jobs)
		own_row |= *(int64 *) lfirst(lc) == job_id;
	if (!is_async || (strcmp(status, BULK_STATUS_QUEUED) != 0 && strcmp(status, BULK_STATUS_RUNNING) != 0))
	{
		bulk_leave_call(previous);
		PG_RETURN_BOOL(false);
	}

	if (!own_row && in_explicit_transaction_block())
	{
		bulk_spi_exec("INSERT INTO bulkorder.bulk_job_cancel_requests (job_id, requested_by, operator)"
					  " VALUES ($1, $2, $3)",
					  3, types, values, nulls, false, SPI_OK_INSERT);
		start_worker_at_commit();
		SPI_finish();
		PG_RETURN_BOOL(true);
	}

	/*
	 * The job's lock tells whether a worker runs a chunk of it.  Taken for
	 * the transaction, so that an error gives it back, and released before
	 * returning: a worker skips a job whose row another transaction holds,
	 * and never waits for it.
	 */
	bulk_job_locktag(&tag, job_id);
	running_chunk = !bulk_try_lock(&tag, false);

	/*
	 * The first to ask is the one recorded: an earlier request made inside
	 * a transaction block, if one has committed, else this call.
	 */
	bulk_record_cancel(job_id, GetUserNameFromId(GetOuterUserId(), false), operator_name);
	/* a worker may have ended it since the first look */
	bulk_spi_exec("SELECT status FROM bulkorder.bulk_jobs WHERE job_id = $1",
				  1, types, values, NULL, false, SPI_OK_SELECT);
	status = SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : "";
	if (strcmp(status, BULK_STATUS_QUEUED) != 0 && strcmp(status, BULK_STATUS_RUNNING) != 0)
	{
		if (!running_chunk)
			LockRelease(&tag, ExclusiveLock, false);
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	if (!running_chunk)
	{
		/* no worker runs a chunk of it: cancel now, in the job's language */
		int			nest = NewGUCNestLevel();
		BulkOperation *op;

		(void) set_config_option("bulkorder.language", language, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		op = bulk_lookup_job_operation(page, operation, NULL, job_id);
		bulk_finish_job(op, job_id, BULK_STATUS_CANCELLED);
		AtEOXact_GUC(true, nest);
		LockRelease(&tag, ExclusiveLock, false);
	}
	bulk_leave_call(previous);
	PG_RETURN_BOOL(true);
}

/*
 * start_worker() RETURNS boolean
 *
 * Start a job worker for this database now (it runs every open job, then
 * exits).  Without shared_preload_libraries, this is how jobs left
 * 'running' by a restart resume before the next submission.  True when a
 * worker was started or bulkorder.max_workers of them exist already.
 */
Datum
bulkorder_start_worker(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(try_start_worker());
}
