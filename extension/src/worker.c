/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Asynchronous jobs: submission, the per-database job worker, the
 *	  launcher, cancel_job and start_worker.
 *
 * run_bulk(..., '{"async": true}') stores the job `queued` with its sorted,
 * distinct targets, cut into chunks, in bulkorder.bulk_job_chunks and its
 * normalized params,
 * and registers a dynamic background worker for its database.  The worker
 * first waits for the submitting transaction to end (a rolled-back
 * submission leaves nothing to do), then claims open jobs and runs each one
 * chunk by chunk.  Each chunk is one transaction that commits together: the
 * changes, their items, the job's counts and bulk_jobs.last_target, the
 * resume cursor.  A crash therefore loses at most the chunk in flight, and
 * the next worker redoes exactly that chunk.
 *
 * Who runs what is decided with advisory locks (pg_locks: locktype
 * 'advisory', objsubid 2):
 *	- classid 751002, objid = job id: held, for the session, by the worker
 *	  running the job, so two workers never run one job and a job left
 *	  'running' by a worker that died is recognised as free;
 *	- classid 751001, objid = 0 .. bulkorder.max_workers - 1: the job-worker
 *	  slots of the database; a worker that finds none free exits.
 * A worker exits as soon as it finds no job to claim: it first gives up its
 * slot, then looks once more, so a job committed while every slot was taken
 * is still seen by a slot holder.
 *
 * With bulkorder in shared_preload_libraries, a launcher (one static
 * worker, connected to no database) starts a worker in every database that
 * accepts connections at server start and then every
 * bulkorder.worker_naptime seconds; a worker in a database without the
 * extension, or without open jobs, exits at once.  That is what preloading
 * adds: jobs left 'running' by a crash or a restart resume with no new
 * call, and a job whose worker could not be started (max_worker_processes
 * exhausted) or was terminated is picked up later.  Without preloading,
 * run_bulk starts the worker itself, so asynchronous jobs need no
 * configuration at all; interrupted jobs resume at the next asynchronous
 * submission in their database or at bulkorder.start_worker().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
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
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_cancel_job);
PG_FUNCTION_INFO_V1(bulkorder_start_worker);

PGDLLEXPORT void bulkorder_worker_main(Datum main_arg);
PGDLLEXPORT void bulkorder_launcher_main(Datum main_arg);

/* GUCs */
int			bulkorder_max_workers = 2;
int			bulkorder_worker_naptime = 10;

/* true when loaded from shared_preload_libraries: the launcher exists */
static bool bulk_preloaded = false;

#define BULK_SLOT_LOCK_CLASS	751001
#define BULK_JOB_LOCK_CLASS		751002
#define BULK_RETRIES			3

/*
 * With preloading, a little shared memory tells the launcher which
 * databases have the extension, so that after its first look it keeps
 * starting workers only there.  A database is marked by its workers (which
 * check for the extension) and by an asynchronous submission; databases
 * not (yet) known are looked at.
 */
#define BULK_MAX_DBS			256
typedef enum BulkDbState
{
	BULK_DB_UNKNOWN = 0,
	BULK_DB_HAS_EXTENSION,
	BULK_DB_NO_EXTENSION
} BulkDbState;

typedef struct BulkShmem
{
	slock_t		mutex;
	Oid			dboid[BULK_MAX_DBS];
	BulkDbState state[BULK_MAX_DBS];
} BulkShmem;

static BulkShmem *bulk_shmem = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* workers registered by this backend's current transaction */
static TransactionId registered_xid = InvalidTransactionId;
static int	registered_count = 0;

/* job worker state */
static MemoryContext worker_ctx = NULL;
static MemoryContext chunk_ctx = NULL;
static int	held_slot = -1;

/* ----------------------------------------------------------------
 * Locks
 * ----------------------------------------------------------------
 */
static void
job_locktag(LOCKTAG *tag, int64 job_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId,
						 (uint32) (BULK_JOB_LOCK_CLASS + ((uint64) job_id >> 32)),
						 (uint32) job_id, 2);
}

static void
slot_locktag(LOCKTAG *tag, int slot)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, BULK_SLOT_LOCK_CLASS, (uint32) slot, 2);
}

static bool
try_lock(LOCKTAG *tag, bool session)
{
	return LockAcquire(tag, ExclusiveLock, session, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* ----------------------------------------------------------------
 * Shared memory (shared_preload_libraries only)
 * ----------------------------------------------------------------
 */
static void
bulk_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(BulkShmem)));
}

static void
bulk_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	bulk_shmem = ShmemInitStruct("bulkorder", sizeof(BulkShmem), &found);
	if (!found)
	{
		memset(bulk_shmem, 0, sizeof(BulkShmem));
		SpinLockInit(&bulk_shmem->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
set_db_state(Oid dboid, BulkDbState state)
{
	int			free_slot = -1;

	if (bulk_shmem == NULL)
		return;
	SpinLockAcquire(&bulk_shmem->mutex);
	for (int i = 0; i < BULK_MAX_DBS; i++)
	{
		if (bulk_shmem->dboid[i] == dboid)
		{
			bulk_shmem->state[i] = state;
			free_slot = -2;
			break;
		}
		if (free_slot == -1 && bulk_shmem->dboid[i] == InvalidOid)
			free_slot = i;
	}
	if (free_slot >= 0)
	{
		bulk_shmem->dboid[free_slot] = dboid;
		bulk_shmem->state[free_slot] = state;
	}
	SpinLockRelease(&bulk_shmem->mutex);
}

static BulkDbState
get_db_state(Oid dboid)
{
	BulkDbState state = BULK_DB_UNKNOWN;

	if (bulk_shmem == NULL)
		return state;
	SpinLockAcquire(&bulk_shmem->mutex);
	for (int i = 0; i < BULK_MAX_DBS; i++)
		if (bulk_shmem->dboid[i] == dboid)
		{
			state = bulk_shmem->state[i];
			break;
		}
	SpinLockRelease(&bulk_shmem->mutex);
	return state;
}

/* forget databases that no longer exist */
static void
prune_db_states(List *dbs)
{
	if (bulk_shmem == NULL)
		return;
	SpinLockAcquire(&bulk_shmem->mutex);
	for (int i = 0; i < BULK_MAX_DBS; i++)
		if (bulk_shmem->dboid[i] != InvalidOid && !list_member_oid(dbs, bulk_shmem->dboid[i]))
		{
			bulk_shmem->dboid[i] = InvalidOid;
			bulk_shmem->state[i] = BULK_DB_UNKNOWN;
		}
	SpinLockRelease(&bulk_shmem->mutex);
}

/* ----------------------------------------------------------------
 * Registration
 * ----------------------------------------------------------------
 */
static bool
register_worker(Oid dboid, TransactionId wait_for, BackgroundWorkerHandle **handle)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "bulkorder");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "bulkorder_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "bulkorder worker for database %u", dboid);
	snprintf(w.bgw_type, BGW_MAXLEN, "bulkorder worker");
	w.bgw_main_arg = ObjectIdGetDatum(dboid);
	memcpy(w.bgw_extra, &wait_for, sizeof(wait_for));
	w.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&w, handle);
}

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
	if (register_worker(MyDatabaseId, xid, NULL))
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

	set_db_state(MyDatabaseId, BULK_DB_HAS_EXTENSION);
	start_worker_for_submission();
}

/* ----------------------------------------------------------------
 * Job worker
 * ----------------------------------------------------------------
 */
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

static void
process_reload(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
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

static bool
take_slot(void)
{
	for (int slot = 0; slot < bulkorder_max_workers; slot++)
	{
		LOCKTAG		tag;

		slot_locktag(&tag, slot);
		if (try_lock(&tag, true))
		{
			held_slot = slot;
			return true;
		}
	}
	return false;
}

static void
release_slot(void)
{
	LOCKTAG		tag;

	if (held_slot < 0)
		return;
	slot_locktag(&tag, held_slot);
	LockRelease(&tag, ExclusiveLock, true);
	held_slot = -1;
}

static void
release_job(int64 job_id)
{
	LOCKTAG		tag;

	job_locktag(&tag, job_id);
	LockRelease(&tag, ExclusiveLock, true);
}

typedef struct StartupArgs
{
	TransactionId wait_for;
	bool		has_extension;
} StartupArgs;

static void
startup_txn(void *arg)
{
	StartupArgs *a = (StartupArgs *) arg;

	/*
	 * A submitter's worker runs once its job is visible, or known gone.  The
	 * wait holds no snapshot, so it does not hold back vacuum.
	 */
	if (TransactionIdIsValid(a->wait_for))
	{
		pgstat_report_activity(STATE_RUNNING, "bulkorder: waiting for the submitting transaction");
		StartTransactionCommand();
		XactLockTableWait(a->wait_for, NULL, NULL, XLTW_None);
		CommitTransactionCommand();
	}
	begin_txn("bulkorder: starting");
	a->has_extension = OidIsValid(get_extension_oid("bulkorder", true));
	/* the same search path as run_bulk's */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	end_txn();
}

typedef struct ClaimArgs
{
	bool		keep;			/* false: only tell whether one is claimable */
	int64		job_id;			/* out: 0 when none */
} ClaimArgs;

/*
 * Claim the oldest open asynchronous job that no worker is running: take
 * its job lock and mark it running.  With keep = false, only find out
 * whether there is one.
 */
static void
claim_txn(void *arg)
{
	ClaimArgs  *a = (ClaimArgs *) arg;
	Oid			types[1] = {INT8OID};
	int64	   *ids;
	uint64		n;

	a->job_id = 0;
	begin_txn("bulkorder: looking for jobs");
	bulk_spi_exec("SELECT job_id FROM bulkorder.bulk_jobs"
				  " WHERE status IN ('queued', 'running') AND is_async"
				  " ORDER BY job_id LIMIT 1000",
				  0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	n = SPI_processed;
	ids = palloc(sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	for (uint64 i = 0; i < n && a->job_id == 0; i++)
	{
		LOCKTAG		tag;
		Datum		values[1] = {Int64GetDatum(ids[i])};

		job_locktag(&tag, ids[i]);
		if (!try_lock(&tag, true))
			continue;			/* another worker runs it */
		if (!a->keep)
		{
			LockRelease(&tag, ExclusiveLock, true);
			a->job_id = ids[i];
			break;
		}
		/* a fresh snapshot: it may have ended since the list was read */
		bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = 'running',"
					  " started_at = coalesce(started_at, clock_timestamp())"
					  " WHERE job_id = $1 AND status IN ('queued', 'running')",
					  1, types, values, NULL, false, SPI_OK_UPDATE);
		if (SPI_processed == 1)
			a->job_id = ids[i];
		else
			LockRelease(&tag, ExclusiveLock, true);
	}
	end_txn();
}

typedef enum ChunkOutcome
{
	CHUNK_MORE,
	CHUNK_FINISHED,				/* done, cancelled, or no longer open */
} ChunkOutcome;

typedef struct ChunkArgs
{
	int64		job_id;
	ChunkOutcome outcome;
} ChunkArgs;

static int64
col_int8(int col, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull));
}

/* status done or cancelled, the completion notification with the counts */
static void
finish_job(BulkOperation *op, int64 job_id, const char *status)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(job_id), CStringGetTextDatum(status)};
	bool		isnull;
	int64		ok,
				ng;

	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = $2, finished_at = clock_timestamp()"
				  " WHERE job_id = $1 RETURNING success_count, failure_count",
				  2, types, values, NULL, false, SPI_OK_UPDATE_RETURNING);
	ok = col_int8(1, &isnull);
	ng = col_int8(2, &isnull);
	SPI_freetuptable(SPI_tuptable);
	bulk_notify(job_id, bulk_completion_message(op, job_id, ok, ng,
												strcmp(status, "cancelled") == 0));
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

	a->outcome = CHUNK_FINISHED;
	begin_txn("bulkorder: running a job");
	oldcxt = MemoryContextSwitchTo(chunk_ctx);

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
	if (strcmp(status, "running") != 0)
		goto out;				/* cancelled while queued, or ended */

	/* messages in the submitter's language */
	SetConfigOption("bulkorder.language", language, PGC_USERSET, PGC_S_SESSION);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("bulkorder: job %lld %s/%s: %lld of %lld",
									(long long) a->job_id, page, operation,
									(long long) processed, (long long) total));
	op = bulk_lookup_operation(page, operation);
	if (cancel)
	{
		finish_job(op, a->job_id, "cancelled");
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
					  " last_target = $4 WHERE job_id = $1 RETURNING processed_count",
					  4, utypes, values, NULL, false, SPI_OK_UPDATE_RETURNING);
		processed = col_int8(1, &isnull);
		SPI_freetuptable(SPI_tuptable);
	}
	if (n < chunk || processed >= total)
		finish_job(op, a->job_id, "done");
	else
		a->outcome = CHUNK_MORE;

out:
	SetUserIdAndSecContext(save_userid, save_sec);
	MemoryContextSwitchTo(oldcxt);
	end_txn();
}

typedef struct FailArgs
{
	int64		job_id;
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
	values[0] = Int64GetDatum(a->job_id);
	values[1] = CStringGetTextDatum(message);
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = 'failed', error_message = $2,"
				  " finished_at = clock_timestamp()"
				  " WHERE job_id = $1 AND status IN ('queued', 'running')"
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
		bulk_notify(a->job_id,
					psprintf(BULK_LANG_TEXT("一括更新がエラーで中断しました。%s「%s」 中断までに 成功 %lld 件 / 失敗 %lld 件 エラー: %s (ジョブ #%lld)",
											"Bulk update broke off with an error: %s, %s: %lld succeeded / %lld failed before it: %s (job #%lld)"),
							 page, operation, (long long) ok, (long long) ng, message,
							 (long long) a->job_id));
	}
	end_txn();
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

/* Run a claimed job (its lock held) to its end, chunk by chunk. */
static void
run_job(int64 job_id)
{
	int			attempt = 0;

	for (;;)
	{
		ChunkArgs	args = {job_id, CHUNK_FINISHED};
		ErrorData  *err;

		CHECK_FOR_INTERRUPTS();
		process_reload();
		err = guarded(chunk_txn, &args);
		MemoryContextReset(chunk_ctx);
		if (err == NULL)
		{
			if (args.outcome != CHUNK_MORE)
				return;
			attempt = 0;
			continue;
		}
		/* a deadlock or serialization failure with another session: redo the chunk */
		if (retryable(err) && ++attempt < BULK_RETRIES)
		{
			FreeErrorData(err);
			nap(100L * attempt);
			continue;
		}
		{
			FailArgs	fa = {job_id, err};
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
	StartupArgs startup;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	worker_ctx = AllocSetContextCreate(TopMemoryContext, "bulkorder worker",
									   ALLOCSET_DEFAULT_SIZES);
	chunk_ctx = AllocSetContextCreate(TopMemoryContext, "bulkorder job chunk",
									  ALLOCSET_DEFAULT_SIZES);
	memcpy(&startup.wait_for, MyBgworkerEntry->bgw_extra, sizeof(TransactionId));
	startup.has_extension = false;
	if (guarded(startup_txn, &startup))
		proc_exit(0);
	set_db_state(dboid, startup.has_extension ? BULK_DB_HAS_EXTENSION : BULK_DB_NO_EXTENSION);
	if (!startup.has_extension)
		proc_exit(0);

	for (;;)
	{
		ClaimArgs	claim;

		/* every slot taken: their holders look again before they exit */
		if (!take_slot())
			break;
		for (;;)
		{
			claim.keep = true;
			CHECK_FOR_INTERRUPTS();
			process_reload();
			if (guarded(claim_txn, &claim))
				proc_exit(0);
			if (claim.job_id == 0)
				break;
			run_job(claim.job_id);
			release_job(claim.job_id);
		}
		release_slot();
		/* after giving up the slot, one more look: nothing may be left behind */
		claim.keep = false;
		if (guarded(claim_txn, &claim) || claim.job_id == 0)
			break;
	}
	proc_exit(0);
}

/* ----------------------------------------------------------------
 * Launcher (shared_preload_libraries only)
 * ----------------------------------------------------------------
 */
typedef struct LaunchedWorker
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
} LaunchedWorker;

static List *launched = NIL;

static bool
launched_alive(Oid dboid)
{
	ListCell   *lc;

	foreach(lc, launched)
	{
		LaunchedWorker *lw = lfirst(lc);
		pid_t		pid;

		if (lw->dboid == dboid)
		{
			BgwHandleStatus st = GetBackgroundWorkerPid(lw->handle, &pid);

			if (st == BGWH_POSTMASTER_DIED)
				proc_exit(1);
			return st == BGWH_STARTED || st == BGWH_NOT_YET_STARTED;
		}
	}
	return false;
}

static void
forget_launched(Oid dboid)
{
	ListCell   *lc;

	foreach(lc, launched)
	{
		LaunchedWorker *lw = lfirst(lc);

		if (lw->dboid == dboid)
		{
			pfree(lw->handle);
			pfree(lw);
			launched = foreach_delete_current(launched, lc);
			return;
		}
	}
}

/*
 * Start a worker in every database that accepts connections and has the
 * extension, or has not been looked at yet.
 */
static void
launch_workers(MemoryContext launcher_ctx)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		if (!db->datallowconn || db->datistemplate || database_is_invalid_form(db))
			continue;
		old = MemoryContextSwitchTo(launcher_ctx);
		dbs = lappend_oid(dbs, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	prune_db_states(dbs);

	/* forget the workers of databases that are gone */
	foreach(lc, launched)
	{
		LaunchedWorker *lw = lfirst(lc);

		if (!list_member_oid(dbs, lw->dboid))
		{
			pfree(lw->handle);
			pfree(lw);
			launched = foreach_delete_current(launched, lc);
		}
	}

	foreach(lc, dbs)
	{
		Oid			dboid = lfirst_oid(lc);
		BackgroundWorkerHandle *handle;
		MemoryContext old;
		LaunchedWorker *lw;
		bool		ok;

		if (get_db_state(dboid) == BULK_DB_NO_EXTENSION || launched_alive(dboid))
			continue;
		forget_launched(dboid);
		old = MemoryContextSwitchTo(TopMemoryContext);
		ok = register_worker(dboid, InvalidTransactionId, &handle);
		if (ok)
		{
			lw = palloc(sizeof(LaunchedWorker));
			lw->dboid = dboid;
			lw->handle = handle;
			launched = lappend(launched, lw);
		}
		MemoryContextSwitchTo(old);
		if (!ok)
		{
			ereport(LOG,
					(errmsg("bulkorder launcher: no background worker slot free, will retry in %d s",
							bulkorder_worker_naptime),
					 errhint("Raise max_worker_processes.")));
			break;
		}
	}
}

void
bulkorder_launcher_main(Datum main_arg)
{
	MemoryContext launcher_ctx;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* no database: pg_database is a shared catalog */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	launcher_ctx = AllocSetContextCreate(TopMemoryContext, "bulkorder launcher",
										 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		process_reload();
		pgstat_report_activity(STATE_RUNNING, "bulkorder launcher: starting job workers");
		launch_workers(launcher_ctx);
		MemoryContextReset(launcher_ctx);
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 bulkorder_worker_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
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
	if (!is_async || (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0))
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}

	job_locktag(&tag, job_id);
	if (strcmp(status, "queued") == 0 || try_lock(&tag, false))
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
		finish_job(op, job_id, "cancelled");
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
	PG_RETURN_BOOL(register_worker(MyDatabaseId, GetTopTransactionIdIfAny(), NULL));
}

/* ----------------------------------------------------------------
 * GUCs and the launcher, from _PG_init
 * ----------------------------------------------------------------
 */
void
bulk_worker_init(void)
{
	DefineCustomIntVariable("bulkorder.max_workers",
							"Asynchronous jobs that may run at once in one database.",
							"Each runs in its own background worker, within max_worker_processes.",
							&bulkorder_max_workers,
							2, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bulkorder.worker_naptime",
							"Time between the launcher's looks for jobs waiting for a worker.",
							"Only with bulkorder in shared_preload_libraries.",
							&bulkorder_worker_naptime,
							10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * No launcher in binary-upgrade mode (pg_upgrade's servers): it would
	 * start workers in the databases pg_upgrade is dumping or restoring.
	 * pg_cron's _PG_init does the same.
	 */
	if (process_shared_preload_libraries_in_progress && !IsBinaryUpgrade)
	{
		BackgroundWorker w;

		bulk_preloaded = true;
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = bulk_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = bulk_shmem_startup;
		memset(&w, 0, sizeof(w));
		w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		w.bgw_start_time = BgWorkerStart_RecoveryFinished;
		w.bgw_restart_time = 10;
		snprintf(w.bgw_library_name, BGW_MAXLEN, "bulkorder");
		snprintf(w.bgw_function_name, BGW_MAXLEN, "bulkorder_launcher_main");
		snprintf(w.bgw_name, BGW_MAXLEN, "bulkorder launcher");
		snprintf(w.bgw_type, BGW_MAXLEN, "bulkorder launcher");
		w.bgw_main_arg = (Datum) 0;
		RegisterBackgroundWorker(&w);
	}
}
