/*-------------------------------------------------------------------------
 *
 * bulkorder.h
 *	  Shared declarations of the bulkorder engine.
 *
 * An operation is data in bulkorder_catalog.operations and its rule tables; the
 * engine turns a declaration into prepared SPI plans (catalog.c), checks
 * parameters (params.c), and applies a job chunk by chunk (engine.c) on
 * behalf of the SQL API (jobs.c) and the background worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BULKORDER_H
#define BULKORDER_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/* GUCs (bulkorder.c) */
extern int	bulkorder_chunk_size;
extern int	bulkorder_max_targets;
extern int	bulkorder_language;
extern int	bulkorder_max_workers;	/* version.c */
extern char *bulk_installed_version(void);
extern bool bulk_installed_version_matches(void);
extern void bulk_check_installed_version(void);

/* worker.c */
extern int	bulkorder_worker_naptime;

typedef enum BulkLanguage
{
	BULK_LANG_JA,
	BULK_LANG_EN
} BulkLanguage;

/*
 * A catalogued operation, ready to run.  The plans belong to the backend's
 * plan cache and stay valid while the catalogue's text for the operation is
 * unchanged; the rest is allocated in the caller's memory context.
 */
typedef struct BulkOperation
{
	char	   *page;
	char	   *operation;
	char	   *page_name;		/* display names in the session's language */
	char	   *op_name;
	Jsonb	   *param_spec;
	int			nparam_checks;
	char	  **param_check_sql;
	char	  **param_check_sqlstate;
	char	  **param_check_message;
	char	  **param_check_hint;
	SPIPlanPtr	pre_lock_plan;	/* $1 keys, $2 params: rows locked before the page's */
	SPIPlanPtr	lock_plan;		/* $1 keys: lock the page's rows in key order */
	SPIPlanPtr	extra_lock_plan;	/* $1 keys, $2 params: other rows the change updates */
	SPIPlanPtr	preview_plan;	/* $1 keys, $2 params */
	SPIPlanPtr	run_plan;		/* $1 keys, $2 params, $3 job id */
} BulkOperation;

typedef struct BulkTargets
{
	int64	   *keys;			/* sorted, distinct */
	int			count;
} BulkTargets;

/* catalog.c */
extern BulkOperation *bulk_lookup_operation(const char *page, const char *operation);

/* params.c */
extern Jsonb *bulk_check_params(BulkOperation *op, Jsonb *params);

/* engine.c */
extern JsonbIterator *bulk_object_iterator(Jsonb *obj, const char *what);
extern bool bulk_object_next(JsonbIterator **it, char **key, JsonbValue *value);
extern BulkTargets bulk_targets_from_array(ArrayType *targets);
extern ArrayType *bulk_keys_array(const int64 *keys, int count);
extern void bulk_lock_targets(BulkOperation *op, Jsonb *params,
							  const int64 *keys, int count);
extern void bulk_apply_chunk(BulkOperation *op, int64 job_id, Jsonb *params,
							 const int64 *keys, int count, bool locked,
							 int64 *succeeded, int64 *failed);

/* jobs.c */
extern char *bulk_option_text(const char *name, JsonbValue *v);
extern void bulk_notify(int64 job_id, const char *message);
extern char *bulk_completion_message(BulkOperation *op, int64 job_id,
									 int64 succeeded, int64 failed, bool cancelled);

/* version.c */
extern char *bulk_installed_version(void);
extern bool bulk_installed_version_matches(void);
extern void bulk_check_installed_version(void);

/* worker.c */
extern void bulk_worker_init(void);
extern void bulk_submit_async(BulkOperation *op, int64 job_id, Jsonb *params,
							  BulkTargets *targets);

/* spi helpers (engine.c) */
extern int	bulk_spi_exec(const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls, bool read_only,
						  int expected);

#define BULK_LANG_TEXT(ja, en) (bulkorder_language == BULK_LANG_EN ? (en) : (ja))

#endif							/* BULKORDER_H */
