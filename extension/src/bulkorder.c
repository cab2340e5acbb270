/*-------------------------------------------------------------------------
 *
 * bulkorder.c
 *	  Module entry point: every GUC, and (launcher.c) the launcher.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "bulkorder.h"

PG_MODULE_MAGIC;

int			bulkorder_chunk_size = 10000;
int			bulkorder_max_targets = 10000000;
int			bulkorder_language = BULK_LANG_JA;
int			bulkorder_max_upload_bytes = 256 * 1024 * 1024;
int			bulkorder_max_workers = 2;
int			bulkorder_worker_naptime = 10;
int			bulkorder_lock_timeout = 5000;
int			bulkorder_lock_give_up = 600000;

static const struct config_enum_entry language_options[] = {
	{"ja", BULK_LANG_JA, false},
	{"en", BULK_LANG_EN, false},
	{NULL, 0, false}
};

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("bulkorder.chunk_size",
							"Targets checked, locked and changed per statement.",
							"Bounds a job's memory; an asynchronous job commits after each chunk and keeps the value in effect when it was submitted.",
							&bulkorder_chunk_size,
							10000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bulkorder.max_targets",
							"Largest number of targets one job accepts.",
							NULL,
							&bulkorder_max_targets,
							10000000, 1, 100000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bulkorder.max_upload_bytes",
							"Largest CSV file upload_csv and import_shipments accept.",
							"A larger file is refused before it is read (SQLSTATE 54000).",
							&bulkorder_max_upload_bytes,
							256 * 1024 * 1024, 0, MaxAllocSize,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("bulkorder.language",
							 "Language of item messages and notifications.",
							 NULL,
							 &bulkorder_language,
							 BULK_LANG_JA, language_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
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
	 * Superuser settings: a role that could raise them could make a worker
	 * wait for its own open transaction, or never give up on it.
	 */
	DefineCustomIntVariable("bulkorder.lock_timeout",
							"Longest wait of a job worker for a lock another transaction holds.",
							"A chunk whose rows stay held that long is set aside and tried again later, its worker serving other jobs meanwhile; an asynchronous job keeps the value in effect when it was submitted.",
							&bulkorder_lock_timeout,
							5000, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bulkorder.lock_give_up",
							"How long a chunk set aside for held rows is tried again before its held targets fail with row_locked.",
							"Counted from the first try that found its rows held; an asynchronous job keeps the value in effect when it was submitted.",
							&bulkorder_lock_give_up,
							600000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/* bulkorder.shop, and the confinement of the engine's statements */
	bulk_shop_init();
	bulk_confine_init();
	/* the launcher, when preloaded */
	bulk_launcher_init();
	MarkGUCPrefixReserved("bulkorder");
}
