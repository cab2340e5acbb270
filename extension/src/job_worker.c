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
 * The worker running a chunk holds the job's lock (locks.c), a lock tag no
 * SQL caller can take: two workers never run one job at once, and
 * cancel_job tells whether a chunk is in flight.  A worker exits as soon as
 * it finds no job to claim: it first gives up its slot, then looks once
 * more, so a job committed while every slot was taken is still seen by a
 * slot holder.
 *
 * No open transaction stalls a worker (docs/async.md).  Each of its
 * transactions waits at most bulkorder.lock_timeout for a lock (a chunk: the
 * value its job was submitted with), and the claim takes the job's row with
 * SKIP LOCKED.  A chunk whose rows another transaction holds is rolled back
 * and set aside: the cursor does not move, so the chunk is later tried again
 * whole, as if never started, and bulk_jobs.not_before keeps the job from
 * being claimed for a pause that grows with the time its rows have been held
 * (BULK_ASIDE_MAX_MS at most).  The worker serves other jobs meanwhile, and
 * while any job is set aside it stays, looking at the queue every
 * BULK_POLL_MS.  bulk_job_chunks.held_since records the first try that found
 * the rows held; a try after bulkorder.lock_give_up has passed that still
 * finds them held gives up on those targets (job_chunk.c): each target whose
 * rows are held gets a failed item row_locked, the others are applied, and
 * the cursor moves past the chunk as after any chunk.
 *
 * A job that kills its worker is not resumed forever.  The claim marks the
 * chunk it is about to run (bulk_job_chunks.run_started_at, committed before
 * the chunk starts); every end of the run that the worker survives clears
 * the mark.  A mark the next claim finds still set is a run that ended its
 * worker abnormally (a crash, a FATAL error, the process killed) -- unless
 * the server was restarted since (pg_postmaster_start_time() is later than
 * the mark: a shutdown, or the machine went down; a crash recovery keeps
 * the postmaster and its start time).  Those runs are counted in
 * bulk_job_chunks.crashes; at BULK_MAX_CRASHES the job fails with
 * worker_crashed instead of running the chunk, and a failed job is never
 * claimed again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
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
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bulkorder.h"

PGDLLEXPORT void bulkorder_worker_main(Datum main_arg);

#define BULK_RETRIES			3
/* abnormal ends of one chunk's runs that fail its job (worker_crashed) */
#define BULK_MAX_CRASHES		2
/* a worker with jobs set aside looks at the queue this often */
#define BULK_POLL_MS			1000
/* the longest pause of a chunk whose rows are held, between two tries */
#define BULK_ASIDE_MAX_MS		60000

static MemoryContext worker_ctx = NULL;
static MemoryContext chunk_ctx = NULL;

/*
 * The shop of the job whose turn it is (0 between turns): every transaction
 * of a turn runs its statements in that shop (confine.c).
 */
static int64 turn_shop = 0;

static void
begin_txn(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	bulk_confine(turn_shop);
	/* no lock wait of a worker's outlasts bulkorder.lock_timeout */
	bulk_set_lock_timeout(bulkorder_lock_timeout);
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
 * Run fn in a PG_TRY: on error, log it (a lock timeout: the caller says what
 * it means), roll back and hand a copy of the error back (allocated in
 * worker_ctx); NULL when fn succeeded.
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
		if (err->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
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
	/* a Citus worker node: its shops' jobs are the coordinator's to run (citus.c) */
	if (a->version_ok && bulk_citus_worker_node())
		a->version_ok = false;
	/* the same search path as run_bulk's */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	end_txn();
}

typedef struct ClaimArgs
{
	bool		keep;			/* false: only tell whether one is claimable */
	int64		job_id;			/* out: 0 when none */
	bool		pending;		/* out: an open job is set aside, or its row held */
	long		wait_ms;		/* out: when pending, when to look again */
	bool		crashed;		/* out: its next chunk ended its worker too often */
	int64		first_target;	/* out: that chunk */
	int64		last_target;
	int64		shop_id;		/* out: the job's shop */
} ClaimArgs;

static int64
col_int8(int col, bool *isnull)
{
	return DatumGetInt64(bulk_spi_first(col, isnull));
}

/*
 * Mark the claimed job's next chunk as run by a worker, counting the run
 * before it if that one never ended (see the head of the file).
 */
static void
mark_run(ClaimArgs *a, int64 cursor, bool has_cursor)
{
	Oid			types[4] = {INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[4] = {Int64GetDatum(a->job_id), Int64GetDatum(cursor),
		TimestampTzGetDatum(PgStartTime), TimestampTzGetDatum(GetCurrentTimestamp())};
	bool		isnull;

	/*
	 * This server's start and clock as values: Citus takes no volatile
	 * function in an UPDATE, and on Citus the mark is the claiming
	 * coordinator's, whichever node holds the row.
	 */
	bulk_spi_exec("UPDATE bulkorder.bulk_job_chunks c"
				  " SET crashes = c.crashes + CASE WHEN c.run_started_at >= $3 THEN 1 ELSE 0 END,"
				  "     run_started_at = $4"
				  " WHERE c.job_id = $1 AND c.first_target ="
				  "   (SELECT min(n.first_target) FROM bulkorder.bulk_job_chunks n"
				  "     WHERE n.job_id = $1 AND ($2::bigint IS NULL OR n.first_target > $2))"
				  " RETURNING c.crashes, c.first_target, c.last_target",
				  4, types, values, has_cursor ? NULL : " n  ", false, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 1)
	{
		a->crashed = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
												 &isnull)) >= BULK_MAX_CRASHES;
		a->first_target = col_int8(2, &isnull);
		a->last_target = col_int8(3, &isnull);
	}
	SPI_freetuptable(SPI_tuptable);

	/*
	 * The mark must outlive a crash of the run it announces, or that crash
	 * goes uncounted: with synchronous_commit = off the last commits before
	 * a crash are lost.  Flushed locally at least (SET LOCAL: this
	 * transaction only).
	 */
	if (synchronous_commit < SYNCHRONOUS_COMMIT_LOCAL_FLUSH)
		(void) set_config_option("synchronous_commit", "local", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * Claim the open asynchronous job served least recently whose chunk no
 * other worker is running, that is not set aside, and whose row no other
 * transaction holds: take its job lock, mark it running and its next chunk
 * run.  With keep = false, only find out whether there is one.  A job set
 * aside or whose row is held makes the claim pending: the worker stays.
 */
static void
claim_txn(void *arg)
{
	ClaimArgs  *a = (ClaimArgs *) arg;
	Oid			types[1] = {INT8OID};
	int64	   *ids;
	int64	   *shops;
	bool	   *aside;
	long	   *aside_ms;
	uint64		n;

	a->job_id = 0;
	a->pending = false;
	a->wait_ms = BULK_POLL_MS;
	a->crashed = false;
	begin_txn("bulkorder: looking for jobs");
	/*
	 * Every shop's jobs: they take turns as those of different roles do.  A
	 * cancel, even one requested inside a transaction block, is not set
	 * aside.
	 */
	bulk_spi_exec("SELECT j.job_id,"
				  "   coalesce(j.not_before > clock_timestamp(), false) AND NOT j.cancel_requested"
				  "   AND NOT EXISTS (SELECT FROM bulkorder.bulk_job_cancel_requests r"
				  "                   WHERE r.shop_id = j.shop_id AND r.job_id = j.job_id),"
				  "   ceil(extract(epoch FROM j.not_before - clock_timestamp()) * 1000)::bigint,"
				  "   j.shop_id"
				  " FROM bulkorder.bulk_jobs j"
				  " WHERE j.status IN " BULK_SQL_OPEN_STATUSES " AND j.is_async"
				  " ORDER BY j.last_chunk_at NULLS FIRST, j.job_id LIMIT 1000",
				  0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	n = SPI_processed;
	ids = palloc(sizeof(int64) * Max(n, 1));
	shops = palloc(sizeof(int64) * Max(n, 1));
	aside = palloc(sizeof(bool) * Max(n, 1));
	aside_ms = palloc(sizeof(long) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		ids[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		aside[i] = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		aside_ms[i] = aside[i] ? (long) DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull)) : 0;
		shops[i] = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	for (uint64 i = 0; i < n && a->job_id == 0; i++)
	{
		LOCKTAG		tag;
		Datum		values[1] = {Int64GetDatum(ids[i])};
		bool		isnull;
		char	   *status;
		int64		cursor;
		bool		has_cursor;

		if (aside[i])
		{
			a->pending = true;
			a->wait_ms = Min(a->wait_ms, Max(aside_ms[i], 1));
			continue;
		}
		bulk_job_locktag(&tag, ids[i]);
		if (!bulk_try_lock(&tag, true))
			continue;			/* another worker runs it */
		/* what follows reads and writes this job's rows: in its shop */
		bulk_confine(shops[i]);
		a->shop_id = shops[i];

		/*
		 * A fresh snapshot: it may have ended since the list was read.  Its
		 * row locked for this transaction, never waited for: another
		 * transaction holding it (a statement that calls cancel_job and goes
		 * on, a superuser's UPDATE) only makes the claim pending.
		 */
		bulk_spi_exec("SELECT status, last_target FROM bulkorder.bulk_jobs"
					  " WHERE job_id = $1 AND status IN " BULK_SQL_OPEN_STATUSES
					  " FOR NO KEY UPDATE SKIP LOCKED",
					  1, types, values, NULL, false, SPI_OK_SELECT);
		if (SPI_processed != 1)
		{
			SPI_freetuptable(SPI_tuptable);
			LockRelease(&tag, ExclusiveLock, true);
			bulk_spi_exec("SELECT FROM bulkorder.bulk_jobs"
						  " WHERE job_id = $1 AND status IN " BULK_SQL_OPEN_STATUSES,
						  1, types, values, NULL, false, SPI_OK_SELECT);
			if (SPI_processed == 1)
				a->pending = true;	/* held, not ended */
			SPI_freetuptable(SPI_tuptable);
			continue;
		}
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		cursor = col_int8(2, &isnull);
		has_cursor = !isnull;
		SPI_freetuptable(SPI_tuptable);
		a->job_id = ids[i];
		if (!a->keep)
		{
			LockRelease(&tag, ExclusiveLock, true);
			break;
		}
		/* only its first turn writes the row here; the chunk checks the status */
		if (strcmp(status, BULK_STATUS_QUEUED) == 0)
			bulk_mark_job_running(ids[i]);
		mark_run(a, cursor, has_cursor);
	}
	end_txn();
}

/*
 * One chunk, one transaction (job_chunk.c), as the job's owner; the run
 * has ended and the worker lives on (mark_run).
 */
static void
chunk_txn(void *arg)
{
	BulkChunk  *a = (BulkChunk *) arg;
	MemoryContext oldcxt;

	begin_txn("bulkorder: running a job");
	oldcxt = MemoryContextSwitchTo(chunk_ctx);
	bulk_run_chunk(a);
	bulk_end_chunk_run(a->job_id);
	MemoryContextSwitchTo(oldcxt);
	end_txn();
}

typedef struct AsideArgs
{
	int64		job_id;
	bool		held;			/* the chunk's rows held: the give-up clock runs */
	int64		first_target;
	int			lock_timeout_ms;
	int			lock_give_up_ms;
	bool		give_up;		/* out: give up on the held targets now */
	long		pause_ms;		/* out: set aside for this long */
} AsideArgs;

/*
 * After a lock timeout: the run has ended (its mark cleared), and the job is
 * set aside.  Rows of the chunk held: the first such try starts the give-up
 * clock, and the pause grows with the time they have been held, from the
 * job's lock_timeout to BULK_ASIDE_MAX_MS, never past the give-up time; once
 * that has come, give_up says to try the give-up pass now instead.  Any
 * other lock (the job's row, the catalogue): a pause of one lock_timeout.
 */
static void
aside_txn(void *arg)
{
	AsideArgs  *a = (AsideArgs *) arg;
	Oid			types[5] = {INT8OID, INT8OID, INT4OID, INT4OID, TIMESTAMPTZOID};
	Datum		values[5];
	bool		isnull;

	begin_txn("bulkorder: setting a job aside");
	values[0] = Int64GetDatum(a->job_id);
	values[1] = Int64GetDatum(a->first_target);
	values[2] = Int32GetDatum(a->lock_timeout_ms);
	values[3] = Int32GetDatum(a->lock_give_up_ms);
	/* the clock as a value: Citus takes no volatile function in an UPDATE */
	values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
	a->give_up = false;
	a->pause_ms = a->lock_timeout_ms;
	if (a->held)
	{
		bulk_spi_exec("UPDATE bulkorder.bulk_job_chunks"
					  " SET held_since = coalesce(held_since, $5)"
					  " WHERE job_id = $1 AND first_target = $2"
					  " RETURNING $5 >= held_since + make_interval(secs => $4 / 1000.0),"
					  "   (extract(epoch FROM least(greatest($5 - held_since,"
					  "                                     make_interval(secs => $3 / 1000.0)),"
					  "                            make_interval(secs => " CppAsString2(BULK_ASIDE_MAX_MS) " / 1000.0),"
					  "                            held_since + make_interval(secs => $4 / 1000.0) - $5))"
					  "   * 1000)::bigint",
					  5, types, values, NULL, false, SPI_OK_UPDATE_RETURNING);
		if (SPI_processed == 1)
		{
			a->give_up = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			a->pause_ms = (long) col_int8(2, &isnull);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	if (!a->give_up)
	{
		Oid			ntypes[3] = {INT8OID, INT8OID, TIMESTAMPTZOID};
		Datum		nvalues[3] = {values[0], Int64GetDatum(Max(a->pause_ms, 1)), values[4]};

		/* a job whose row is held needs none: the claim passes it over */
		bulk_spi_exec("UPDATE bulkorder.bulk_jobs j"
					  " SET not_before = $3 + make_interval(secs => $2 / 1000.0)"
					  " FROM (SELECT job_id FROM bulkorder.bulk_jobs WHERE job_id = $1"
					  "       FOR NO KEY UPDATE SKIP LOCKED) l"
					  " WHERE j.job_id = l.job_id",
					  3, ntypes, nvalues, NULL, false, SPI_OK_UPDATE);
		bulk_end_chunk_run(a->job_id);
	}
	end_txn();
}

typedef struct FailArgs
{
	int64		job_id;
	ErrorData  *err;			/* NULL: worker_crashed, the chunk below */
	int64		first_target;
	int64		last_target;
} FailArgs;

/* status failed with the error (job_status.c); the committed chunks stay */
static void
fail_txn(void *arg)
{
	FailArgs   *a = (FailArgs *) arg;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	char	   *message;
	const char *error_code = NULL;

	begin_txn("bulkorder: recording a failed job");
	values[0] = Int64GetDatum(a->job_id);
	bulk_spi_exec("SELECT coalesce(language, 'ja') FROM bulkorder.bulk_jobs WHERE job_id = $1",
				  1, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 1)
		SetConfigOption("bulkorder.language",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						PGC_USERSET, PGC_S_SESSION);
	SPI_freetuptable(SPI_tuptable);
	if (a->err)
		message = a->err->message ? a->err->message : "unknown error";
	else
	{
		/* in the job's language */
		message = bulk_message(BMSG_JOB_WORKER_CRASHED,
							   psprintf("%lld", (long long) a->first_target),
							   psprintf("%lld", (long long) a->last_target),
							   psprintf("%d", BULK_MAX_CRASHES));
		error_code = "worker_crashed";
	}
	bulk_fail_job(a->job_id, message, error_code);
	bulk_end_chunk_run(a->job_id);
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

static void
fail_job(FailArgs *fa)
{
	ErrorData  *err2 = guarded(fail_txn, fa);

	if (err2)
		proc_exit(0);			/* the database is going away: nothing to record in */
}

/*
 * One turn of a claimed job (its lock held): its next chunk, redone after a
 * deadlock or serialization failure, set aside when its rows are held (or
 * given up on, past lock_give_up), or the job failed.
 */
static void
run_turn_in_shop(ClaimArgs *claim)
{
	int64		job_id = claim->job_id;
	int			attempt = 0;
	bool		give_up = false;

	if (claim->crashed)
	{
		FailArgs	fa = {job_id, NULL, claim->first_target, claim->last_target};

		ereport(LOG,
				(errmsg("bulkorder: job %lld failed with worker_crashed: its chunk of targets %lld to %lld ended its worker abnormally %d times",
						(long long) job_id, (long long) claim->first_target,
						(long long) claim->last_target, BULK_MAX_CRASHES),
				 errhint("The job is not resumed automatically; the targets it did not reach have no item.")));
		fail_job(&fa);
		return;
	}

	for (;;)
	{
		BulkChunk	args = {job_id, give_up};
		ErrorData  *err;

		CHECK_FOR_INTERRUPTS();
		bulk_process_reload();
		err = guarded(chunk_txn, &args);
		MemoryContextReset(chunk_ctx);
		if (err == NULL)
			return;
		/* a lock another transaction holds: set the job aside, serve others */
		if (err->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		{
			/* one give-up pass per turn: a lock timeout in it only pauses */
			AsideArgs	aa = {job_id, args.in_targets && args.has_chunk && !give_up,
			args.first_target, args.lock_timeout_ms, args.lock_give_up_ms};
			ErrorData  *err2;

			if (aa.lock_timeout_ms <= 0)
				aa.lock_timeout_ms = bulkorder_lock_timeout;
			err2 = guarded(aside_txn, &aa);
			if (err2)
			{
				/* e.g. the job's row held too: the claim passes it over until then */
				FreeErrorData(err2);
				aa.give_up = false;
			}
			if (aa.give_up)
				ereport(LOG,
						(errmsg("bulkorder: job %lld: rows of its chunk from target %lld are still held after %d ms: giving up on the held targets",
								(long long) job_id, (long long) args.first_target, aa.lock_give_up_ms),
						 errdetail("%s", err->message)));
			else
				ereport(LOG,
						(errmsg("bulkorder: job %lld set aside for %ld ms: %s",
								(long long) job_id, aa.pause_ms,
								aa.held ? "rows of its chunk are held by another transaction" :
								"a lock it needs is held by another transaction"),
						 errdetail("%s", err->message),
						 aa.held ? errhint("Targets still held after bulkorder.lock_give_up (%d ms) fail with row_locked.",
										   aa.lock_give_up_ms) : 0));
			FreeErrorData(err);
			if (!aa.give_up)
				return;
			give_up = true;
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
			FailArgs	fa = {job_id, err, 0, 0};

			fail_job(&fa);
		}
		FreeErrorData(err);
		return;
	}
}

/* A turn runs in the job's shop: every transaction of it (begin_txn). */
static void
run_turn(ClaimArgs *claim)
{
	turn_shop = claim->shop_id;
	run_turn_in_shop(claim);
	turn_shop = 0;
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
			ErrorData  *err;

			memset(&claim, 0, sizeof(claim));
			claim.keep = true;
			CHECK_FOR_INTERRUPTS();
			bulk_process_reload();
			if ((err = guarded(claim_txn, &claim)) != NULL)
			{
				/* e.g. the database going away, or a lock on the queue's tables */
				if (err->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
					ereport(LOG,
							(errmsg("bulkorder worker: could not look at the queue, exiting: %s", err->message),
							 errhint("A transaction holds a lock on bulkorder.bulk_jobs; the launcher or the next submission starts a worker again.")));
				proc_exit(0);
			}
			if (claim.job_id == 0)
				break;
			run_turn(&claim);
			release_job(claim.job_id);
		}

		/*
		 * Jobs set aside, or whose row another transaction holds: keep the
		 * slot and look again soon (a new job is seen then too).  No
		 * other worker may be left to come back to them.
		 */
		if (claim.pending)
		{
			pgstat_report_activity(STATE_IDLE, "bulkorder: waiting for jobs set aside");
			nap(claim.wait_ms);
			continue;
		}
		bulk_slot_release();
		/* after giving up the slot, one more look: nothing may be left behind */
		memset(&claim, 0, sizeof(claim));
		claim.keep = false;
		if (guarded(claim_txn, &claim) || (claim.job_id == 0 && !claim.pending))
			break;
		/* every slot taken again: their holders look before they exit */
		if (!bulk_slot_attach(dboid, -1))
			break;
	}
	proc_exit(0);
}
