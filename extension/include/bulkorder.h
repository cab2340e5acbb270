/*-------------------------------------------------------------------------
 *
 * bulkorder.h
 *	  Shared declarations of the bulkorder engine.
 *
 * An operation is data in bulkorder_catalog.operations and its rule tables; the
 * engine turns a declaration into prepared SPI plans (catalog.c), checks
 * parameters (params.c), and applies a job chunk by chunk (engine.c) on
 * behalf of the SQL API (jobs.c) and the job worker (job_worker.c).  The
 * queue (queue.c) takes asynchronous submissions, the launcher
 * (launcher.c) starts workers, job_status.c changes a job's status and
 * words its notifications, util.c holds the SPI/JSON/array helpers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BULKORDER_H
#define BULKORDER_H

#include "postgres.h"

#include "executor/spi.h"
#include "nodes/execnodes.h"
#include "postmaster/bgworker.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/* GUCs (bulkorder.c) */
extern int	bulkorder_chunk_size;
extern int	bulkorder_max_targets;
extern int	bulkorder_language;
extern int	bulkorder_max_upload_bytes;
extern int	bulkorder_max_workers;
extern int	bulkorder_worker_naptime;
extern int	bulkorder_lock_timeout;
extern int	bulkorder_lock_give_up;

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
	SPIPlanPtr	lock_plan;		/* $1 keys: lock the page's rows in key order (NULL: the run does) */
	SPIPlanPtr	extra_lock_plan;	/* $1 keys, $2 params: other rows the change updates */
	SPIPlanPtr	preview_plan;	/* $1 keys, $2 params */
	SPIPlanPtr	run_plan;		/* $1 keys, $2 params, $3 job id */
	SPIPlanPtr	fail_plan;		/* NULL, or $1 the keys run_plan did not change */
	int64		reverts;		/* a revert (operation 'revert'): the job it undoes */
} BulkOperation;

/*
 * A job's status: the one definition of each value, spliced into the SQL
 * strings that name one ("... SET status = '" BULK_STATUS_DONE "'").
 * bulk_jobs' CHECK constraint lists the same five.
 */
#define BULK_STATUS_QUEUED		"queued"
#define BULK_STATUS_RUNNING		"running"
#define BULK_STATUS_DONE		"done"
#define BULK_STATUS_CANCELLED	"cancelled"
#define BULK_STATUS_FAILED		"failed"
/* SQL: the statuses of a job that has not ended */
#define BULK_SQL_OPEN_STATUSES	"('" BULK_STATUS_QUEUED "', '" BULK_STATUS_RUNNING "')"

typedef struct BulkTargets
{
	int64	   *keys;			/* sorted, distinct */
	int			count;
} BulkTargets;

/* catalog.c */
extern BulkOperation *bulk_lookup_operation(const char *page, const char *operation);
extern BulkOperation *bulk_lookup_revert(const char *page, Jsonb *revert_params);
extern BulkOperation *bulk_lookup_job_operation(const char *page, const char *operation,
												Jsonb *params, int64 job_id);
extern void bulk_check_reversible(const char *page, const char *operation);
extern char *bulk_page_list_hint(void);
extern void bulk_unknown_page(const char *page) pg_attribute_noreturn();

/* params.c */
extern Jsonb *bulk_check_params(BulkOperation *op, Jsonb *params);

/* util.c: SPI for the engine's statements (confined to the job's shop) */
extern int	bulk_spi_exec(const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls, bool read_only,
						  int expected);
extern int	bulk_spi_execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
								  bool read_only);
extern JsonbIterator *bulk_object_iterator(Jsonb *obj, const char *what);
extern bool bulk_object_next(JsonbIterator **it, char **key, JsonbValue *value);
extern BulkTargets bulk_targets_from_array(ArrayType *targets);
extern ArrayType *bulk_keys_array(const int64 *keys, int count);
extern int	bulk_compare_int64(const void *a, const void *b);

/* engine.c */
extern void bulk_lock_targets(BulkOperation *op, Jsonb *params,
							  const int64 *keys, int count);
extern void bulk_apply_chunk(BulkOperation *op, int64 job_id, Jsonb *params,
							 const int64 *keys, int count, bool locked,
							 int64 *succeeded, int64 *failed);

/* jobs.c */
extern char *bulk_option_text(const char *name, JsonbValue *v);
extern bytea *bulk_request_hash(const char *page, const char *operation,
								const int64 *keys, int nkeys, Jsonb *params);
extern bytea *bulk_request_hash_job(const char *call, const char *page, int64 job_id,
									Jsonb *request);
extern bytea *bulk_request_hash_file(const char *page, const char *operation,
									 const char *data, size_t len, Jsonb *read_options);
extern int64 bulk_request_key_job(const char *page, const char *request_key,
								  bytea *request_hash);

/*
 * messages.c: whole-call error texts in bulkorder.language.  Use as
 * ereport(ERROR, (errcode(...), errmsg("english"),
 *                 bulk_errdetail(BMSG_X, arg1, arg2))): the arguments are
 * strings, filling %1$s, %2$s, ... of the entry.
 */
typedef enum BulkMsg
{
	BMSG_PARAM_UNKNOWN,
	BMSG_PARAM_MISSING,
	BMSG_PARAM_NULL,
	BMSG_PARAM_BOOLEAN,
	BMSG_PARAM_TEXT,
	BMSG_PARAM_INTEGER,
	BMSG_PARAM_INTEGER_RANGE,
	BMSG_PARAM_MIN,
	BMSG_PARAM_MAX,
	BMSG_PARAM_TOO_LONG,
	BMSG_PARAM_ENUM,
	BMSG_PARAM_DATE,
	BMSG_PARAM_DATE_RANGE,
	BMSG_PARAM_ARRAY,
	BMSG_PARAM_ARRAY_NULL,
	BMSG_PARAM_ARRAY_BLANK,
	BMSG_PARAM_ARRAY_LIMIT,
	BMSG_NOT_OBJECT,
	BMSG_ARG_NULL,
	BMSG_TARGETS_NULL,
	BMSG_PARAMS_NULL,
	BMSG_OPTION_UNKNOWN,
	BMSG_OPTION_BOOLEAN,
	BMSG_OPTION_TEXT,
	BMSG_REQUEST_KEY_CONCURRENT,
	BMSG_REQUEST_KEY_OTHER_REQUEST,
	BMSG_REQUEST_KEY_UNVERIFIABLE,
	BMSG_TARGETS_DIMENSIONS,
	BMSG_TARGETS_NULL_ELEMENT,
	BMSG_TARGETS_TOO_MANY,
	BMSG_PAGE_UNKNOWN,
	BMSG_OPERATION_UNKNOWN,
	BMSG_UPLOAD_OPTION_UNKNOWN,
	BMSG_IMPORT_OPTION_UNKNOWN,
	BMSG_CSV_ENCODING,
	BMSG_CSV_ENCODING_TEXT,
	BMSG_CSV_CONTENT_NULL,
	BMSG_CSV_REJECTED,
	BMSG_CSV_NOT_UTF8,
	BMSG_CSV_NOT_SJIS,
	BMSG_CSV_UTF16,
	BMSG_CSV_END_MARKER,
	BMSG_CSV_LINE,
	BMSG_SHOP_CODE,
	BMSG_SHOP_DIFFERS,
	BMSG_SHOP_UNKNOWN,
	BMSG_SHOP_AMBIGUOUS,
	BMSG_SHOP_NAME_IT,
	BMSG_SHOP_DENIED,
	BMSG_CANCEL_OPTION_UNKNOWN,
	BMSG_COUNT
} BulkMsg;

extern int	bulk_errdetail_args(BulkMsg id, int nargs, const char *const *args);
extern int	bulk_errhint_args(BulkMsg id, int nargs, const char *const *args);
extern char *bulk_message_args(BulkMsg id, int nargs, const char *const *args);

#define BULK_MSG_ARGS(...) \
	lengthof(((const char *const[]) {__VA_ARGS__})), ((const char *const[]) {__VA_ARGS__})
#define bulk_errdetail(id, ...) bulk_errdetail_args((id), BULK_MSG_ARGS(__VA_ARGS__))
#define bulk_errhint(id, ...) bulk_errhint_args((id), BULK_MSG_ARGS(__VA_ARGS__))
#define bulk_message(id, ...) bulk_message_args((id), BULK_MSG_ARGS(__VA_ARGS__))

/* jobs.c: the options of a call, and the job API in C */
typedef struct BulkJobOptions
{
	bool		async;
	char	   *request_key;
	char	   *operator_name;
	char	   *source;			/* "api" unless given */
	bool		source_given;	/* the call named a source (even null) */
	char	   *shop;			/* options.shop: the code of the shop, or NULL */
} BulkJobOptions;

/* an option bulk_parse_options does not know: read it, or false */
typedef bool (*BulkOptionFn) (void *arg, const char *name, JsonbValue *v);

extern BulkJobOptions bulk_parse_options(Jsonb *options, bool job_options,
										 BulkOptionFn extra, void *arg,
										 BulkMsg unknown_msg);
extern void bulk_preview_targets(BulkOperation *op, Jsonb *params,
								 BulkTargets *targets, bool read_only,
								 ReturnSetInfo *rsinfo);
extern int64 bulk_submit_job(const char *page, const char *operation,
							 BulkTargets *targets, Jsonb *params,
							 BulkJobOptions *opts, bytea *request_hash,
							 bool *existing);
extern int64 bulk_start_job(BulkOperation *op, Jsonb *params, Jsonb *normalized,
							BulkJobOptions *opts, BulkTargets *targets,
							bytea *request_hash, int64 retry_of, int64 reverts);

/* shop.c: many shops in one database */
extern char *bulkorder_shop;
extern void bulk_shop_init(void);
extern int64 bulk_resolve_shop(const char *option_code);
extern int64 bulk_confine(int64 shop);
extern int64 bulk_confined_shop(void);
extern void bulk_arm_confinement(void);
extern void bulk_disarm_confinement(void);
extern void bulk_confine_shards(const Oid *shells, const Oid *shards, int n);

/*
 * citus.c: a Citus cluster (SPEC §9 "Citus").  Once distribute_shops() has
 * distributed the shop's tables, every chunk of work the engine does runs
 * as one delegated call on the node that holds the job's shop; the
 * functions below return false where it runs here (one node, or the
 * delegated call itself).
 */
typedef enum BulkChunkMode
{
	BULK_CHUNK_LOCK,			/* lock the targets' rows (a synchronous job's) */
	BULK_CHUNK_APPLY,			/* lock, check, apply and record */
	BULK_CHUNK_APPLY_LOCKED,	/* the same, the rows locked already */
	BULK_CHUNK_GIVE_UP			/* the give-up pass (job_worker.c) */
} BulkChunkMode;

extern bool bulk_citus_distributed(void);
extern bool bulk_citus_run_chunk(BulkOperation *op, int64 job_id, Jsonb *params,
								 const int64 *keys, int count, BulkChunkMode mode,
								 int64 *succeeded, int64 *failed,
								 int64 **held, int *nheld);
extern bool bulk_citus_preview_chunk(BulkOperation *op, Jsonb *params,
									 const int64 *keys, int count, bool read_only,
									 ReturnSetInfo *rsinfo);
extern bool bulk_citus_worker_node(void);
extern void bulk_citus_check_statement(SPIPlanPtr plan, const char *what);

/* version.c */
extern char *bulk_installed_version(void);
extern bool bulk_installed_version_matches(void);
extern void bulk_check_installed_version(void);

/* job_status.c */
extern void bulk_notify(int64 job_id, const char *message);
extern char *bulk_accepted_message(BulkOperation *op, int64 job_id, int ntargets);
extern char *bulk_completion_message(BulkOperation *op, int64 job_id,
									 int64 succeeded, int64 failed);
extern char *bulk_failure_message(const char *page_name, const char *op_name,
								  int64 job_id, int64 succeeded, int64 failed,
								  const char *error);
extern void bulk_finish_job(BulkOperation *op, int64 job_id, const char *status);

/* job_worker.c: the give-up pass over one chunk, here */
extern void bulk_give_up_chunk(BulkOperation *op, int64 job_id, Jsonb *params,
							   const int64 *keys, int n, int64 *succeeded, int64 *failed,
							   int64 **held, int *nheld);

/* queue.c */
extern void bulk_submit_async(BulkOperation *op, int64 job_id, Jsonb *params,
							  BulkTargets *targets);
extern void bulk_job_locktag(LOCKTAG *tag, int64 job_id);
extern void bulk_slot_locktag(LOCKTAG *tag, int slot);
extern bool bulk_try_lock(LOCKTAG *tag, bool session);

/* launcher.c */
typedef enum BulkDbState
{
	BULK_DB_UNKNOWN = 0,
	BULK_DB_HAS_EXTENSION,
	BULK_DB_NO_EXTENSION
} BulkDbState;

extern bool bulk_preloaded;
extern void bulk_launcher_init(void);
extern void bulk_set_db_state(Oid dboid, BulkDbState state);
/* bulk_slot_reserve without preloading: the worker takes a slot lock */
#define BULK_SLOT_BY_LOCK		(-2)
extern int	bulk_slot_reserve(Oid dboid);
extern void bulk_slot_unreserve(int slot);
extern bool bulk_slot_attach(Oid dboid, int slot);
extern void bulk_slot_release(void);
extern bool bulk_register_worker(Oid dboid, int slot);
extern void bulk_bgworker_setup(void);
extern void bulk_process_reload(void);

#define BULK_LANG_TEXT(ja, en) (bulkorder_language == BULK_LANG_EN ? (en) : (ja))

#endif							/* BULKORDER_H */
