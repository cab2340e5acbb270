/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  The locks job workers coordinate with, and how long they wait for a
 *	  lock.
 *
 * The workers' locks are advisory lock tags that no SQL caller can take or
 * wait for: pg_advisory_lock() and its kin build theirs with field4 = 1
 * (one bigint key) or 2 (two integer keys), these use 3 and 4.  pg_locks
 * shows them as locktype 'advisory' with objsubid 3 (a job: classid and
 * objid are the job id's high and low 32 bits) or 4 (a slot, objid).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/guc.h"

#include "bulkorder.h"

#define BULK_LOCKTAG_JOB		3
#define BULK_LOCKTAG_SLOT		4

/* held by the worker running a chunk of the job, and by cancel_job */
void
bulk_job_locktag(LOCKTAG *tag, int64 job_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) ((uint64) job_id >> 32),
						 (uint32) job_id, BULK_LOCKTAG_JOB);
}

/* without preloading: the job worker slots of the database */
void
bulk_slot_locktag(LOCKTAG *tag, int slot)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, 0, (uint32) slot, BULK_LOCKTAG_SLOT);
}

bool
bulk_try_lock(LOCKTAG *tag, bool session)
{
	return LockAcquire(tag, ExclusiveLock, session, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* lock_timeout for the rest of the transaction (a SET LOCAL) */
void
bulk_set_lock_timeout(int ms)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%d", ms);
	(void) set_config_option("lock_timeout", buf, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}
