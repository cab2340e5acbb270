/*-------------------------------------------------------------------------
 *
 * bulkorder.h
 *	  Shared declarations of the bulkorder engine.
 *
 * An operation is data in bulkorder_catalog.operations and its rule tables; the
 * engine turns a declaration into prepared SPI plans (plan_cache.c, from the
 * statements of bulkorder_statements.h), checks parameters (params.c), and
 * applies a job chunk by chunk (engine.c) on behalf of the SQL API (jobs.c,
 * revert.c, csv.c) and the job worker (job_worker.c, job_chunk.c).  The
 * queue (queue.c) takes asynchronous submissions, the launcher (launcher.c)
 * starts workers, locks.c has their locks.  job_status.c writes a job's
 * status and words its notifications, options.c parses every call's
 * options, shop.c finds the shop of a call and confine.c keeps every
 * statement in it, messages.c gives every text in the session's language,
 * util.c holds the SPI/JSON/array helpers.  Calls go one way: no two files
 * call each other, directly or around a circle.
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
 * unchanged; the rest is allocated in the caller's memory context.  What
 * each plan's statement returns is bulkorder_statements.h's.
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

/* plan_cache.c: the operation a job runs, its plans prepared */
extern BulkOperation *bulk_lookup_operation(const char *page, const char *operation);
extern BulkOperation *bulk_lookup_revert(const char *page, Jsonb *revert_params);
extern BulkOperation *bulk_lookup_job_operation(const char *page, const char *operation,
												Jsonb *params, int64 job_id);

/* revert_statements.c */
extern void bulk_check_reversible(const char *page, const char *operation);

/* declaration.c: the pages of the catalogue */
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
extern Datum bulk_spi_first(int col, bool *isnull);
extern Datum bulk_spi_exec_value(const char *sql, int nargs, Oid *argtypes, Datum *values,
								 const char *nulls, bool read_only, int expected,
								 bool *isnull);
extern JsonbIterator *bulk_object_iterator(Jsonb *obj, const char *what);
extern bool bulk_object_next(JsonbIterator **it, char **key, JsonbValue *value);
extern BulkTargets bulk_targets_from_array(ArrayType *targets);
extern ArrayType *bulk_keys_array(const int64 *keys, int count);
extern BulkTargets bulk_array_keys(ArrayType *arr, const char *what);
extern int	bulk_compare_int64(const void *a, const void *b);

/* engine.c */
extern void bulk_lock_targets(BulkOperation *op, Jsonb *params,
							  const int64 *keys, int count);
extern void bulk_apply_chunk(BulkOperation *op, int64 job_id, Jsonb *params,
							 const int64 *keys, int count, bool locked,
							 int64 *succeeded, int64 *failed);

/* jobs.c */
extern bytea *bulk_request_hash(const char *page, const char *operation,
								const int64 *keys, int nkeys, Jsonb *params);
extern bytea *bulk_request_hash_job(const char *call, const char *page, int64 job_id,
									Jsonb *request);
extern bytea *bulk_request_hash_file(const char *page, const char *operation,
									 const char *data, size_t len, Jsonb *read_options);
extern int64 bulk_request_key_job(const char *page, const char *request_key,
								  bytea *request_hash);

/*
 * messages.c: every text an operator reads, in bulkorder.language.  Use as
 * ereport(ERROR, (errcode(...), errmsg("english"),
 *                 bulk_errdetail(BMSG_X, arg1, arg2))), or bulk_message()
 * for the text alone: the arguments are strings, filling %1$s, %2$s, ...
 * of the entry.  SQL reads the same table: bulkorder_catalog.message('X').
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
	BMSG_NOTIFICATIONS_OPTION_UNKNOWN,
	BMSG_CONNECTOR_OPTION_UNKNOWN,
	BMSG_RETRY_ERROR_CODES,
	BMSG_ITEM_NOT_FOUND,
	BMSG_ITEM_SIDE_EFFECT_DONE,
	BMSG_ITEM_CHANGED_SINCE,
	BMSG_ITEM_ROW_LOCKED,
	BMSG_JOB_ACCEPTED,
	BMSG_JOB_FINISHED,
	BMSG_JOB_CANCELLED,
	BMSG_JOB_FAILED,
	BMSG_REVERT_ACCEPTED,
	BMSG_REVERT_FINISHED,
	BMSG_REVERT_CANCELLED,
	BMSG_CANCELLED_BY_OPERATOR,
	BMSG_CANCELLED_BY_ROLE,
	BMSG_JOB_WORKER_CRASHED,
	BMSG_STATEMENT_NOT_ONE,
	BMSG_DECLARE_AGAIN,
	BMSG_FRAGMENT_STATEMENTS,
	BMSG_FRAGMENT_ONE_STATEMENT,
	BMSG_NOT_APPLIED_TRIGGER,
	BMSG_NOT_APPLIED_APPLY_SQL,
	BMSG_MERGE_UNSUPPORTED,
	BMSG_SHOP_CONFINED,
	BMSG_SHOP_LEAVE_SHOP_ID,
	BMSG_JOB_STILL_OPEN,
	BMSG_REVERT_ONCE,
	BMSG_REVERT_RUNNING,
	BMSG_ALREADY_REVERTED,
	BMSG_REVERT_THE_REVERT,
	BMSG_REVERT_NOT_DECLARED,
	BMSG_REVERT_NO_APPLY,
	BMSG_REVERT_PARAMS,
	BMSG_REQUEST_KEY_NEW,
	BMSG_WORKER_NOT_FREE,
	BMSG_RAISE_MAX_WORKER_PROCESSES,
	BMSG_WORKER_SLOTS_IN_USE,
	BMSG_RAISE_OR_PRELOAD,
	BMSG_VERSION_MISMATCH,
	BMSG_VERSION_UPDATE,
	BMSG_SHOPS_MISSING,
	BMSG_PAGE_LIST,
	BMSG_CSV_TOO_LARGE,
	BMSG_CSV_RAISE_LIMIT,
	BMSG_CSV_LINE_TOO_LONG,
	BMSG_CSV_ONLY_COLUMNS_AB,
	BMSG_TRACKING_FORMATS,
	BMSG_UPLOAD_A_EMPTY,
	BMSG_UPLOAD_A_NOT_A_NUMBER,
	BMSG_UPLOAD_A_GROUPING,
	BMSG_UPLOAD_A_FRACTION,
	BMSG_UPLOAD_A_FORMULA_ERROR,
	BMSG_UPLOAD_A_OUT_OF_RANGE,
	BMSG_UPLOAD_A_SEPARATOR,
	BMSG_UPLOAD_A_QUESTION_MARK,
	BMSG_UPLOAD_A_ROUNDED_NUMBER,
	BMSG_UPLOAD_A_NOT_AN_INTEGER,
	BMSG_UPLOAD_A_NEGATIVE_NUMBER,
	BMSG_UPLOAD_A_CURRENCY_FORMAT,
	BMSG_UPLOAD_A_FORMULA_TEXT,
	BMSG_UPLOAD_NOT_FOUND,
	BMSG_UPLOAD_DUPLICATE_KEY,
	BMSG_UPLOAD_B_ROUNDED_NUMBER,
	BMSG_UPLOAD_B_NOT_AN_INTEGER,
	BMSG_UPLOAD_B_NEGATIVE_NUMBER,
	BMSG_UPLOAD_B_CURRENCY_FORMAT,
	BMSG_UPLOAD_B_FORMULA_TEXT,
	BMSG_UPLOAD_B_INVALID_TRACKING_NO,
	BMSG_TRACKING_PROBLEM_CHARACTER,
	BMSG_TRACKING_PROBLEM_QUESTION_MARK,
	BMSG_TRACKING_PROBLEM_LENGTH_JP12,
	BMSG_TRACKING_PROBLEM_LENGTH,
	BMSG_TRACKING_PROBLEM_CHECK_DIGIT,
	BMSG_TRACKING_FORMAT_JP12,
	BMSG_TRACKING_FORMAT_S10,
	BMSG_TRACKING_FORMAT_TEXT,
	BMSG_UPLOAD_PURGED,
	BMSG_PURGE_INTERVAL,
	BMSG_CREATE_SHOP_CODE,
	BMSG_CHOOSE_ANOTHER_CODE,
	BMSG_GRANT_NAME_SHOP,
	BMSG_GRANT_SHOP_UNKNOWN,
	BMSG_REQUEST_SETTLED,
	BMSG_REQUEST_SETTLED_ONCE,
	BMSG_AS_OF_NULL,
	BMSG_AS_OF_RANGE,
	BMSG_GENERATION_SHOP,
	BMSG_GENERATION_DONE,
	BMSG_GENERATION_ERRORS_LISTED,
	BMSG_GENERATION_BROKE_OFF,
	BMSG_RULE_KEYS,
	BMSG_RULE_FIELDS,
	BMSG_RULE_CODE,
	BMSG_REVERT_RULE_CODE,
	BMSG_OPERATION_CODE,
	BMSG_REVERT_RESERVED,
	BMSG_CHOOSE_ANOTHER_OPERATION_CODE,
	BMSG_WRAPPER_NAME,
	BMSG_PARAM_NAME,
	BMSG_PARAM_SPEC_KEYS,
	BMSG_PARAM_TYPES,
	BMSG_PARAM_SPEC,
	BMSG_PARAM_DEFAULT_NULL,
	BMSG_SET_OR_APPLY,
	BMSG_CHANGED_COLUMNS,
	BMSG_NAME_CHANGED_COLUMNS,
	BMSG_TARGET_JOIN_KEYS,
	BMSG_TARGET_JOIN_STRINGS,
	BMSG_TARGET_JOIN_ALIAS,
	BMSG_CHECK_KEYS,
	BMSG_CHECK_SQLSTATE,
	BMSG_CHECK_ERROR_SQLSTATE,
	BMSG_REVERT_KEYS,
	BMSG_REVERT_STRINGS,
	BMSG_IRREVERSIBLE_REASON,
	BMSG_REVERSIBLE_REASON,
	BMSG_IRREVERSIBLE_ONLY_REASON,
	BMSG_KEEPING_SHOP_DECLARATION,
	BMSG_OPERATION_SHIPPED,
	BMSG_JOB_OPEN_WAIT,
	BMSG_WRAPPER_TAKEN,
	BMSG_WRAPPER_KEPT,
	BMSG_SHIPPED_WRAPPER,
	BMSG_CITUS_TABLE_NOT_ON_NODES,
	BMSG_CITUS_TABLE_NOT_ON_NODES_HINT,
	BMSG_CITUS_SHARD_LAYOUT,
	BMSG_CITUS_SHARD_LAYOUT_HINT,
	BMSG_CITUS_SHOP_MOVED,
	BMSG_CITUS_SHOP_MOVED_HINT,
	BMSG_CONNECTOR_NOT_GRANTED,
	BMSG_DISTRIBUTE_SUPERUSER,
	BMSG_DISTRIBUTE_NO_CITUS,
	BMSG_DISTRIBUTE_NO_CITUS_HINT,
	BMSG_DISTRIBUTE_ON_WORKER,
	BMSG_DISTRIBUTE_WORKERS_DOWN,
	BMSG_COUNT
} BulkMsg;

extern BulkMsg bulk_message_id(const char *name);
/* message_table.c */
extern const char *bulk_message_format(BulkMsg id, bool english);
extern const char *bulk_message_name(BulkMsg id);
extern int	bulk_errdetail_args(BulkMsg id, int nargs, const char *const *args);
extern int	bulk_errhint_args(BulkMsg id, int nargs, const char *const *args);
extern char *bulk_message_args(BulkMsg id, int nargs, const char *const *args);

#define BULK_MSG_ARGS(...) \
	lengthof(((const char *const[]) {__VA_ARGS__})), ((const char *const[]) {__VA_ARGS__})
#define bulk_errdetail(id, ...) bulk_errdetail_args((id), BULK_MSG_ARGS(__VA_ARGS__))
#define bulk_errhint(id, ...) bulk_errhint_args((id), BULK_MSG_ARGS(__VA_ARGS__))
#define bulk_message(id, ...) bulk_message_args((id), BULK_MSG_ARGS(__VA_ARGS__))

/* options.c: the options of a call */
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
extern char *bulk_option_text(const char *name, JsonbValue *v);
extern bool bulk_is_call_option(const char *name);

/* jobs.c: the job API in C */
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

/* shop.c: many shops in one database, the shop of a call */
extern char *bulkorder_shop;
extern void bulk_shop_init(void);
extern int64 bulk_resolve_shop(const char *option_code);
extern int64 bulk_enter_call(const char *option_code);
extern void bulk_leave_call(int64 previous);

/* confine.c: the engine's statements confined to the job's shop */
extern void bulk_confine_init(void);
extern int64 bulk_confine(int64 shop);
extern int64 bulk_confined_shop(void);
extern void bulk_arm_confinement(void);
extern void bulk_disarm_confinement(void);
extern void bulk_confine_shards(const Oid *shells, const Oid *shards, int n);

/*
 * citus.c: a Citus cluster (docs/citus.md).  Once distribute_shops() has
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
extern void bulk_citus_delegated_call(bool inside);
extern void bulk_citus_check_statement(SPIPlanPtr plan, const char *what);

/* version.c */
extern char *bulk_installed_version(void);
extern bool bulk_installed_version_matches(void);
extern void bulk_check_installed_version(void);

/* job_status.c */
extern void bulk_select_job(int64 job_id, const char *select);
extern void bulk_notify(int64 job_id, const char *message);
extern char *bulk_accepted_message(BulkOperation *op, int64 job_id, int ntargets);
extern char *bulk_completion_message(BulkOperation *op, int64 job_id,
									 int64 succeeded, int64 failed);
extern const char *bulk_initial_status(bool async);
extern void bulk_mark_job_running(int64 job_id);
extern void bulk_finish_sync_job(BulkOperation *op, int64 job_id,
								 int64 succeeded, int64 failed);
extern int64 bulk_advance_job(int64 job_id, int64 succeeded, int64 failed, int64 last_target);
extern void bulk_finish_job(BulkOperation *op, int64 job_id, const char *status);
extern void bulk_record_cancel(int64 job_id, const char *role, const char *operator_name);
extern void bulk_fail_job(int64 job_id, const char *message, const char *error_code);
extern void bulk_lock_job(int64 job_id);

/* job_chunk.c: one chunk of an asynchronous job, in the worker's transaction */
typedef struct BulkChunk
{
	int64		job_id;
	bool		give_up;		/* fail the targets still held: row_locked */
	/* out, kept when the chunk fails */
	bool		in_targets;		/* its targets were being locked or changed */
	bool		has_chunk;
	int64		first_target;
	int			lock_timeout_ms;
	int			lock_give_up_ms;
} BulkChunk;

extern void bulk_run_chunk(BulkChunk *chunk);
extern void bulk_end_chunk_run(int64 job_id);

/* job_chunk.c: the give-up pass over one chunk, here */
extern void bulk_give_up_chunk(BulkOperation *op, int64 job_id, Jsonb *params,
							   const int64 *keys, int n, int64 *succeeded, int64 *failed,
							   int64 **held, int *nheld);

/* queue.c */
extern void bulk_submit_async(BulkOperation *op, int64 job_id, Jsonb *params,
							  BulkTargets *targets);

/* locks.c: the workers' locks */
extern void bulk_job_locktag(LOCKTAG *tag, int64 job_id);
extern void bulk_slot_locktag(LOCKTAG *tag, int slot);
extern bool bulk_try_lock(LOCKTAG *tag, bool session);
extern void bulk_set_lock_timeout(int ms);

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

#endif							/* BULKORDER_H */
