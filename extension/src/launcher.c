/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher (shared_preload_libraries only), its shared memory, and
 *	  the registration of job workers.
 *
 * With bulkorder in shared_preload_libraries, a launcher (one static
 * worker, connected to no database) starts a job worker (job_worker.c) in
 * every database that accepts connections at server start and then every
 * bulkorder.worker_naptime seconds; a worker in a database without the
 * extension, or without open jobs, exits at once.  That is what preloading
 * adds: jobs left 'running' by a crash or a restart resume with no new
 * call, and a job whose worker could not be started (max_worker_processes
 * exhausted) or was terminated is picked up later.  Without preloading,
 * run_bulk starts the worker itself (queue.c), so asynchronous jobs need no
 * configuration at all.
 *
 * As pg_cron splits its launcher (pg_cron.c) from its metadata API
 * (job_metadata.c), this file knows nothing of jobs: it starts workers.
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
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "bulkorder.h"

PGDLLEXPORT void bulkorder_launcher_main(Datum main_arg);

/* true when loaded from shared_preload_libraries: the launcher exists */
bool		bulk_preloaded = false;

/*
 * With preloading, a little shared memory tells the launcher which
 * databases have the extension, so that after its first look it keeps
 * starting workers only there.  A database is marked by its workers (which
 * check for the extension) and by an asynchronous submission; databases
 * not (yet) known are looked at.
 */
#define BULK_MAX_DBS			256

typedef struct BulkShmem
{
	slock_t		mutex;
	Oid			dboid[BULK_MAX_DBS];
	BulkDbState state[BULK_MAX_DBS];
} BulkShmem;

static BulkShmem *bulk_shmem = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

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

void
bulk_set_db_state(Oid dboid, BulkDbState state)
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

/*
 * Forget databases that no longer exist.  The table is copied under the
 * spinlock and looked up in the list outside it (a spinlock is held for a
 * few instructions only); an entry is cleared only if it still names the
 * database that was found gone.
 */
static void
prune_db_states(List *dbs)
{
	Oid			copy[BULK_MAX_DBS];
	bool		gone[BULK_MAX_DBS];

	if (bulk_shmem == NULL)
		return;
	SpinLockAcquire(&bulk_shmem->mutex);
	memcpy(copy, bulk_shmem->dboid, sizeof(copy));
	SpinLockRelease(&bulk_shmem->mutex);

	for (int i = 0; i < BULK_MAX_DBS; i++)
		gone[i] = copy[i] != InvalidOid && !list_member_oid(dbs, copy[i]);

	SpinLockAcquire(&bulk_shmem->mutex);
	for (int i = 0; i < BULK_MAX_DBS; i++)
		if (gone[i] && bulk_shmem->dboid[i] == copy[i])
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
bool
bulk_register_worker(Oid dboid, TransactionId wait_for, BackgroundWorkerHandle **handle)
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

/* A SIGHUP since the last look: reread the configuration. */
void
bulk_process_reload(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
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
		ok = bulk_register_worker(dboid, InvalidTransactionId, &handle);
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
		bulk_process_reload();
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
 * From _PG_init: the launcher, when preloaded
 * ----------------------------------------------------------------
 */
void
bulk_launcher_init(void)
{
	if (process_shared_preload_libraries_in_progress)
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
