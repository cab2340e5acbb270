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
 * At most bulkorder.max_workers job workers exist per database at any
 * time.  With preloading that is counted here, in shared memory: a worker
 * is registered only after a slot of its database was reserved for it, and
 * the slot is free again when the worker exits (or, had its start failed,
 * after BULK_SLOT_STALE_SECS).  Without preloading there is no shared
 * memory of ours: a worker takes one of the database's slot locks
 * (locks.c) as it starts, and exits at once when none is free.
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
#include "storage/lock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bulkorder.h"

PGDLLEXPORT void bulkorder_launcher_main(Datum main_arg);

/* true when loaded from shared_preload_libraries: the launcher exists */
bool		bulk_preloaded = false;

/*
 * With preloading, a little shared memory tells the launcher which
 * databases have the extension, so that after its first look it keeps
 * starting workers only there.  A database is marked by its workers (which
 * check for the extension) and by an asynchronous submission; databases
 * not (yet) known are looked at.  It also holds the job workers' slots, one
 * per background worker process the server can have.
 */
#define BULK_MAX_DBS			256
/* a reservation whose worker never attached is given up after this */
#define BULK_SLOT_STALE_SECS	60

typedef struct BulkWorkerSlot
{
	Oid			dboid;			/* InvalidOid: free */
	pid_t		pid;			/* 0: reserved, the worker not attached yet */
	TimestampTz reserved_at;
} BulkWorkerSlot;

typedef struct BulkShmem
{
	/*
	 * Shared memory made again after a crash of some process: the launcher
	 * waits one naptime before it starts any worker (set by the postmaster).
	 */
	bool		after_crash;
	bool		launcher_waited;	/* the launcher has waited since then */
	slock_t		mutex;			/* the database table */
	Oid			dboid[BULK_MAX_DBS];
	BulkDbState state[BULK_MAX_DBS];
	LWLock	   *slot_lock;		/* the worker slots */
	int			nslots;
	BulkWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} BulkShmem;

static BulkShmem *bulk_shmem = NULL;
/* in the postmaster: how many times it has made bulkorder's shared memory */
static int	shmem_generation = 0;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* the slot this job worker holds: in shared memory, else a slot lock */
static int	my_slot = -1;
static bool my_slot_is_lock = false;

/* ----------------------------------------------------------------
 * Shared memory (shared_preload_libraries only)
 * ----------------------------------------------------------------
 */
static Size
bulk_shmem_size(void)
{
	/* max_worker_processes is PGC_POSTMASTER: known by now, fixed after */
	return MAXALIGN(add_size(offsetof(BulkShmem, slots),
							 mul_size(sizeof(BulkWorkerSlot), max_worker_processes)));
}

static void
bulk_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(bulk_shmem_size());
	RequestNamedLWLockTranche("bulkorder", 1);
}

static void
bulk_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	bulk_shmem = ShmemInitStruct("bulkorder", bulk_shmem_size(), &found);
	if (!found)
	{
		memset(bulk_shmem, 0, bulk_shmem_size());
		SpinLockInit(&bulk_shmem->mutex);
		bulk_shmem->slot_lock = &(GetNamedLWLockTranche("bulkorder"))->lock;
		bulk_shmem->nslots = max_worker_processes;
		/* the postmaster makes it again only after a crash (reset_shared) */
		bulk_shmem->after_crash = ++shmem_generation > 1;
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
 * Job worker slots
 * ----------------------------------------------------------------
 */

/*
 * Reserve a job worker slot of the database, before its worker is
 * registered.  Returns the slot; -1 when bulkorder.max_workers workers of
 * the database exist or are about to (each looks for jobs before it exits,
 * so a job committed now is not left behind); BULK_SLOT_BY_LOCK without
 * preloading (the worker takes a slot lock as it starts).  Never throws:
 * it runs in a commit callback.
 */
int
bulk_slot_reserve(Oid dboid)
{
	TimestampTz now = GetCurrentTimestamp();
	int			used = 0;
	int			free_slot = -1;

	if (bulk_shmem == NULL)
		return BULK_SLOT_BY_LOCK;
	LWLockAcquire(bulk_shmem->slot_lock, LW_EXCLUSIVE);
	for (int i = 0; i < bulk_shmem->nslots; i++)
	{
		BulkWorkerSlot *s = &bulk_shmem->slots[i];

		/* a registration whose worker never started */
		if (s->dboid != InvalidOid && s->pid == 0 &&
			TimestampDifferenceExceeds(s->reserved_at, now, BULK_SLOT_STALE_SECS * 1000))
			s->dboid = InvalidOid;
		if (s->dboid == dboid)
			used++;
		else if (s->dboid == InvalidOid && free_slot < 0)
			free_slot = i;
	}
	if (used >= bulkorder_max_workers)
		free_slot = -1;
	if (free_slot >= 0)
	{
		bulk_shmem->slots[free_slot].dboid = dboid;
		bulk_shmem->slots[free_slot].pid = 0;
		bulk_shmem->slots[free_slot].reserved_at = now;
	}
	LWLockRelease(bulk_shmem->slot_lock);
	return free_slot;
}

/* A reservation whose worker could not be registered. */
void
bulk_slot_unreserve(int slot)
{
	if (bulk_shmem == NULL || slot < 0)
		return;
	LWLockAcquire(bulk_shmem->slot_lock, LW_EXCLUSIVE);
	bulk_shmem->slots[slot].dboid = InvalidOid;
	bulk_shmem->slots[slot].pid = 0;
	LWLockRelease(bulk_shmem->slot_lock);
}

/* a slot lock goes with the session's locks; a shared-memory slot here */
static void
slot_release_at_exit(int code, Datum arg)
{
	if (!my_slot_is_lock)
		bulk_slot_release();
}

/*
 * The job worker takes the slot reserved for it (slot >= 0), a free one
 * (slot -1: reserve now), or without preloading a slot lock.  False: no
 * slot, the worker must exit.
 */
bool
bulk_slot_attach(Oid dboid, int slot)
{
	static bool callback_registered = false;
	bool		ok = false;

	if (!callback_registered)
	{
		before_shmem_exit(slot_release_at_exit, (Datum) 0);
		callback_registered = true;
	}
	if (bulk_shmem == NULL || slot == BULK_SLOT_BY_LOCK)
	{
		for (int i = 0; i < bulkorder_max_workers && !ok; i++)
		{
			LOCKTAG		tag;

			bulk_slot_locktag(&tag, i);
			if (bulk_try_lock(&tag, true))
			{
				my_slot = i;
				my_slot_is_lock = true;
				ok = true;
			}
		}
		return ok;
	}
	if (slot < 0)
		slot = bulk_slot_reserve(dboid);
	if (slot < 0 || slot >= bulk_shmem->nslots)
		return false;
	LWLockAcquire(bulk_shmem->slot_lock, LW_EXCLUSIVE);
	/* given up as stale, or taken since: then it is not ours */
	if (bulk_shmem->slots[slot].dboid == dboid && bulk_shmem->slots[slot].pid == 0)
	{
		bulk_shmem->slots[slot].pid = MyProcPid;
		my_slot = slot;
		my_slot_is_lock = false;
		ok = true;
	}
	LWLockRelease(bulk_shmem->slot_lock);
	return ok;
}

void
bulk_slot_release(void)
{
	if (my_slot < 0)
		return;
	if (my_slot_is_lock)
	{
		LOCKTAG		tag;

		bulk_slot_locktag(&tag, my_slot);
		LockRelease(&tag, ExclusiveLock, true);
	}
	else
	{
		LWLockAcquire(bulk_shmem->slot_lock, LW_EXCLUSIVE);
		if (bulk_shmem->slots[my_slot].pid == MyProcPid)
		{
			bulk_shmem->slots[my_slot].dboid = InvalidOid;
			bulk_shmem->slots[my_slot].pid = 0;
		}
		LWLockRelease(bulk_shmem->slot_lock);
	}
	my_slot = -1;
}

/* ----------------------------------------------------------------
 * Registration
 * ----------------------------------------------------------------
 */
/*
 * Register a job worker for the database, with the slot reserved for it
 * (bgw_extra).  Never throws: it runs in a commit callback.
 */
bool
bulk_register_worker(Oid dboid, int slot)
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
	memcpy(w.bgw_extra, &slot, sizeof(slot));
	w.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&w, NULL);
}

/* Signals of a worker or the launcher, as worker_spi sets them. */
void
bulk_bgworker_setup(void)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
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
/*
 * Start a worker in every database that accepts connections and has the
 * extension, or has not been looked at yet, unless bulkorder.max_workers
 * workers of the database exist already.
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

	foreach(lc, dbs)
	{
		Oid			dboid = lfirst_oid(lc);
		int			slot;

		if (get_db_state(dboid) == BULK_DB_NO_EXTENSION)
			continue;
		/* every slot of the database taken: those workers see its jobs */
		slot = bulk_slot_reserve(dboid);
		if (slot < 0)
			continue;
		if (!bulk_register_worker(dboid, slot))
		{
			bulk_slot_unreserve(slot);
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

	bulk_bgworker_setup();
	/* no database: pg_database is a shared catalog */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	launcher_ctx = AllocSetContextCreate(TopMemoryContext, "bulkorder launcher",
										 ALLOCSET_DEFAULT_SIZES);

	/*
	 * After a crash recovery, wait one naptime before resuming anything: the
	 * job in flight may be what crashed the server (a job whose chunk ends
	 * its worker abnormally twice fails, job_worker.c, so this bounds the
	 * loop to two crashes), and the server has just come back.
	 */
	if (bulk_shmem->after_crash && !bulk_shmem->launcher_waited)
	{
		TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														bulkorder_worker_naptime * 1000L);

		ereport(LOG,
				(errmsg("bulkorder launcher: the server recovered from a crash, no job resumes for %d s",
						bulkorder_worker_naptime),
				 errdetail("A job whose chunk ended its worker abnormally twice fails with worker_crashed instead of resuming.")));
		pgstat_report_activity(STATE_IDLE, "bulkorder launcher: waiting after a crash recovery");
		for (;;)
		{
			long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

			if (ms <= 0)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		bulk_shmem->launcher_waited = true;
	}

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
