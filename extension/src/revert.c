/*-------------------------------------------------------------------------
 *
 * revert.c
 *	  Retrying a job's failures and undoing a job (docs/api.md): retry_failed,
 *	  revert_job and preview_revert.
 *
 * Both make an ordinary job that the one engine runs: a retry is a job of
 * the same operation over the failed targets; a revert is a job with
 * operation 'revert' whose statements (revert_statements.c,
 * bulk_lookup_revert) read the reverted job's items.  Locking, chunks,
 * items, counts, the worker, cancel and crash-resume are the engine's, as
 * for any job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_retry_failed);
PG_FUNCTION_INFO_V1(bulkorder_revert_job);
PG_FUNCTION_INFO_V1(bulkorder_preview_revert);

typedef struct JobRow
{
	char	   *page;
	char	   *operation;
	Jsonb	   *params;			/* as given */
	Jsonb	   *run_params;		/* what ran: effective_params, else params */
	char	   *status;
	int64		reverts;		/* 0 when not a revert */
} JobRow;

static int64
job_id_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job_id must not be NULL")));
	return PG_GETARG_INT64(0);
}

/*
 * Read the job row.  lock: take a row lock on it first (an UPDATE that
 * changes nothing), so that two reverts of one job queue up behind each
 * other and the second sees the first's revert job; under REPEATABLE READ
 * the second gets a serialization failure instead of a second revert.
 */
static JobRow
read_job(int64 job_id, bool lock)
{
	JobRow		row;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	if (lock)
		bulk_lock_job(job_id);
	bulk_select_job(job_id, "page, operation, params, coalesce(effective_params, params), status, reverts");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row.page = SPI_getvalue(tup, desc, 1);
	row.operation = SPI_getvalue(tup, desc, 2);
	row.params = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 3, &isnull));
	row.run_params = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 4, &isnull));
	row.status = SPI_getvalue(tup, desc, 5);
	row.reverts = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
	if (isnull)
		row.reverts = 0;
	SPI_freetuptable(SPI_tuptable);

	if (strcmp(row.status, BULK_STATUS_QUEUED) == 0 || strcmp(row.status, BULK_STATUS_RUNNING) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bulk job %lld is still %s", (long long) job_id, row.status),
				 bulk_errhint(BMSG_JOB_STILL_OPEN, psprintf("%lld", (long long) job_id))));
	return row;
}

/* job_targets' statement, without the look-up of earlier reverts */
#define JOB_ITEMS_SQL \
	"SELECT coalesce(array_agg(i.target ORDER BY i.target), '{}')" \
	" FROM bulkorder.bulk_job_items i" \
	" WHERE i.job_id = $1 AND i.ok = $2" \
	" AND ($3::text[] IS NULL OR i.error_code = ANY ($3))"

/*
 * The job's items (ok or failed, optionally with these codes), as targets.
 * Not read-only: a new snapshot sees a job that the caller's own statement
 * has just run (SELECT revert_job(run_bulk(...))).
 *
 * undone_of (0: none): leave out every target that a revert of that job
 * has undone already (a target is undone at most once per job).
 * That is derived from the history, not recorded apart: an ok item of any
 * job whose reverts names it -- a revert cancelled or failed after some
 * chunks committed, or a retry of a revert -- whatever that job's status.
 * The caller holds the row of job undone_of locked (revert_job's read_job,
 * lock_reverted_job) and has made sure no revert of it is queued or running
 * ("already reverted", refuse_running_revert), so no other revert of it can
 * commit an item between this read and the new job's run.
 */
static BulkTargets
job_targets(int64 job_id, bool ok, Datum codes, bool codes_null, int64 undone_of)
{
	Oid			types[4] = {INT8OID, BOOLOID, TEXTARRAYOID, INT8ARRAYOID};
	Datum		values[4] = {Int64GetDatum(job_id), BoolGetDatum(ok), codes, (Datum) 0};
	char		nulls[4] = {' ', ' ', codes_null ? 'n' : ' ', ' '};
	const char *sql = JOB_ITEMS_SQL;
	int			nargs = 3;
	bool		isnull;
	Datum		targets;

	/*
	 * The reverts of undone_of, read once: looked up per target, they were a
	 * rescan of bulk_jobs for every item.  None (a job's first revert, the
	 * common case) leaves the look-up out of the statement.
	 */
	if (undone_of > 0)
	{
		Oid			rtypes[1] = {INT8OID};
		Datum		rvalues[1] = {Int64GetDatum(undone_of)};

		values[3] = bulk_spi_exec_value("SELECT array_agg(r.job_id) FROM bulkorder.bulk_jobs r"
										" WHERE r.reverts = $1",
										1, rtypes, rvalues, NULL, false, SPI_OK_SELECT, &isnull);
		if (!isnull)
		{
			sql = JOB_ITEMS_SQL
				" AND NOT EXISTS (SELECT 1 FROM bulkorder.bulk_job_items u"
				" WHERE u.job_id = ANY ($4) AND u.target = i.target AND u.ok)";
			nargs = 4;
		}
	}

	targets = bulk_spi_exec_value(sql, nargs, types, values, nulls, false, SPI_OK_SELECT, &isnull);
	return bulk_targets_from_array(DatumGetArrayTypeP(targets));
}

/*
 * A retry of a revert of job J undoes more of J.  Lock J's row, as
 * revert_job does, so that the retry waits for a revert of J, or a retry of
 * one, that another transaction is running synchronously, and then sees its
 * items (job_targets).
 */
static void
lock_reverted_job(int64 reverted)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(reverted)};

	bulk_spi_exec("SELECT 1 FROM bulkorder.bulk_jobs WHERE job_id = $1 FOR NO KEY UPDATE",
				  1, types, values, NULL, false, SPI_OK_SELECT);
}

/*
 * Refuse (55000) a retry of a revert of J while a revert of J is queued or
 * running in the background: its items are not all written yet.
 */
static void
refuse_running_revert(int64 reverted)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(reverted)};
	bool		isnull;
	Datum		running;

	bulk_spi_exec("SELECT min(job_id) FROM bulkorder.bulk_jobs"
				  " WHERE reverts = $1 AND status IN " BULK_SQL_OPEN_STATUSES,
				  1, types, values, NULL, false, SPI_OK_SELECT);
	running = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bulk job %lld is being reverted by job %lld", (long long) reverted,
						(long long) DatumGetInt64(running)),
				 bulk_errdetail(BMSG_REVERT_ONCE, NULL),
				 bulk_errhint(BMSG_REVERT_RUNNING,
							  psprintf("%lld", (long long) DatumGetInt64(running)))));
	SPI_freetuptable(SPI_tuptable);
}

/*
 * retry_failed's own option, error_codes: an array of error codes, or null
 * (every failure).  The array is kept in *arg for the call to read.
 */
static bool
error_codes_option(void *arg, const char *name, JsonbValue *v)
{
	Jsonb	  **codes = (Jsonb **) arg;
	bool		all_text = true;

	if (strcmp(name, "error_codes") != 0)
		return false;
	if (v->type == jbvNull)
		return true;
	if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	elem;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
			if (tok == WJB_ELEM && elem.type != jbvString)
				all_text = false;
		if (all_text)
		{
			*codes = JsonbValueToJsonb(v);
			return true;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"error_codes\" must be an array of error codes"),
			 bulk_errhint(BMSG_RETRY_ERROR_CODES, NULL)));
	return false;				/* keep the compiler quiet */
}

/*
 * retry_failed(job_id bigint, options jsonb DEFAULT '{}') RETURNS bigint
 *
 * A new job of the same page, operation and params over the failed targets
 * (those with options.error_codes only, when given), checked and applied as
 * run_bulk would today; bulk_jobs.retry_of names the old job.  A retry of a
 * revert is a revert over its failed targets.
 */
Datum
bulkorder_retry_failed(PG_FUNCTION_ARGS)
{
	int64		job_id = job_id_arg(fcinfo);
	Jsonb	   *options = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	Oid			types[1] = {JSONBOID};
	Datum		values[1];
	Datum		codes = (Datum) 0;
	bool		codes_null = true;
	Jsonb	   *codes_request = NULL;
	Jsonb	   *codes_given = NULL;
	BulkJobOptions opts;
	bytea	   *request_hash = NULL;
	JobRow		job;
	BulkTargets targets;
	BulkOperation *op;
	Jsonb	   *normalized;
	int64		new_job;
	int64		previous;
	bool		isnull;
	bool		of_revert;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");

	/* error_codes is retry_failed's own option; the others are run_bulk's */
	opts = bulk_parse_options(options, true, error_codes_option, &codes_given,
							  BMSG_OPTION_UNKNOWN);
	if (codes_given != NULL)
	{
		values[0] = JsonbPGetDatum(codes_given);
		bulk_spi_exec("SELECT ARRAY(SELECT jsonb_array_elements_text($1)),"
		/* the codes as the request's fingerprint takes them */
					  " coalesce((SELECT jsonb_agg(DISTINCT c ORDER BY c)"
					  "             FROM jsonb_array_elements_text($1) c), '[]')",
					  1, types, values, NULL, true, SPI_OK_SELECT);
		codes = datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
						  false, -1);
		codes_null = false;
		codes_request = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 2, &isnull));
		SPI_freetuptable(SPI_tuptable);
	}
	previous = bulk_confine(bulk_resolve_shop(opts.shop));

	job = read_job(job_id, false);
	of_revert = strcmp(job.operation, "revert") == 0;
	if (of_revert)
		lock_reverted_job(job.reverts);

	/*
	 * A request key names one request: this retry of this job with these
	 * codes.  Looked at before the refusals that the first call's own job
	 * may cause (a retry of a revert, queued, is a revert running).
	 */
	if (opts.request_key)
	{
		int64		first;

		request_hash = bulk_request_hash_job("retry_failed", job.page, job_id, codes_request);
		first = bulk_request_key_job(job.page, opts.request_key, request_hash);
		if (first != 0)
		{
			bulk_leave_call(previous);
			PG_RETURN_INT64(first);
		}
	}

	if (of_revert)
	{
		/* the targets an earlier revert of the same job undid are left out */
		refuse_running_revert(job.reverts);
		targets = job_targets(job_id, false, codes, codes_null, job.reverts);
		op = bulk_lookup_revert(job.page, job.params);
		normalized = job.params;
	}
	else
	{
		targets = job_targets(job_id, false, codes, codes_null, 0);
		op = bulk_lookup_operation(job.page, job.operation);
		normalized = bulk_check_params(op, job.params);
	}
	new_job = bulk_start_job(op, job.params, normalized, &opts, &targets, request_hash,
							 job_id, job.reverts);
	bulk_leave_call(previous);
	PG_RETURN_INT64(new_job);
}

/*
 * Everything revert_job and preview_revert refuse, in this order: unknown
 * job (22023), a job that is queued or running (55000), an operation that
 * cannot be reverted (0A000), a job already reverted (55000).  Returns the
 * revert's operation and its params.
 *
 * revert_job's request key (opts, else NULL) is looked at before "already
 * reverted": the same key and request return the first revert,
 * whose own job is what makes the job reverted.  Then *first_job is that
 * revert, and nothing else is done.
 */
static BulkOperation *
prepare_revert(int64 job_id, bool lock, BulkJobOptions *opts, bytea **request_hash,
			   int64 *first_job, Jsonb **revert_params, BulkTargets *targets)
{
	JobRow		job;
	Oid			types[4] = {INT8OID, TEXTOID, BOOLOID, JSONBOID};
	Datum		values[4];
	bool		isnull;
	char	   *operation;
	bool		reapply = false;
	Jsonb	   *inner;

	job = read_job(job_id, lock);
	if (opts && opts->request_key)
	{
		*request_hash = bulk_request_hash_job("revert_job", job.page, job_id, NULL);
		*first_job = bulk_request_key_job(job.page, opts->request_key, *request_hash);
		if (*first_job != 0)
			return NULL;
	}
	if (strcmp(job.operation, "revert") == 0)
	{
		/* undoing a revert applies the original operation again */
		values[0] = JsonbPGetDatum(job.params);
		bulk_spi_exec("SELECT $1->>'operation', coalesce(($1->>'reapply')::boolean, false), $1->'params'",
					  1, &types[3], values, NULL, true, SPI_OK_SELECT);
		operation = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		reapply = !DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		inner = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		SPI_freetuptable(SPI_tuptable);
	}
	else
	{
		operation = job.operation;
		inner = job.run_params;
	}
	bulk_check_reversible(job.page, operation);

	values[0] = Int64GetDatum(job_id);
	bulk_spi_exec("SELECT min(job_id) FROM bulkorder.bulk_jobs"
				  " WHERE reverts = $1 AND status IN ('" BULK_STATUS_QUEUED "', '" BULK_STATUS_RUNNING "',"
				  " '" BULK_STATUS_DONE "')",
				  1, types, values, NULL, false, SPI_OK_SELECT);
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("bulk job %lld has already been reverted", (long long) job_id),
					 bulk_errdetail(BMSG_ALREADY_REVERTED, psprintf("%lld", (long long) DatumGetInt64(d))),
					 bulk_errhint(BMSG_REVERT_THE_REVERT, psprintf("%lld", (long long) DatumGetInt64(d)))));
	}
	SPI_freetuptable(SPI_tuptable);

	values[1] = CStringGetTextDatum(operation);
	values[2] = BoolGetDatum(reapply);
	values[3] = JsonbPGetDatum(inner);
	bulk_spi_exec("SELECT jsonb_build_object('job_id', $1, 'operation', $2, 'reapply', $3, 'params', $4)",
				  4, types, values, NULL, true, SPI_OK_SELECT);
	*revert_params = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);

	/* after a cancelled or failed revert: what it undid is left out */
	*targets = job_targets(job_id, true, (Datum) 0, true, job_id);
	return bulk_lookup_revert(job.page, *revert_params);
}

/*
 * revert_job(job_id bigint, options jsonb DEFAULT '{}') RETURNS bigint
 */
Datum
bulkorder_revert_job(PG_FUNCTION_ARGS)
{
	int64		job_id = job_id_arg(fcinfo);
	Jsonb	   *options = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	BulkJobOptions opts = bulk_parse_options(options, true, NULL, NULL, BMSG_OPTION_UNKNOWN);
	bytea	   *request_hash = NULL;
	int64		first_job = 0;
	Jsonb	   *revert_params;
	BulkTargets targets;
	BulkOperation *op;
	int64		new_job;
	int64		previous = bulk_enter_call(opts.shop);

	op = prepare_revert(job_id, true, &opts, &request_hash, &first_job, &revert_params, &targets);
	if (op == NULL)
		new_job = first_job;
	else
		new_job = bulk_start_job(op, revert_params, revert_params, &opts, &targets, request_hash,
								 0, job_id);
	bulk_leave_call(previous);
	PG_RETURN_INT64(new_job);
}

/*
 * preview_revert(job_id bigint)
 *	  RETURNS TABLE(target bigint, ok boolean, error_code text, message text)
 *
 * The confirmation step of an undo: revert_job's refusals and its checks per
 * target, changing nothing.  Not read-only: whether a connector holds an
 * outbox row is found by locking it without waiting, in a subtransaction
 * that gives the locks back as soon as each chunk's checks are read
 * (bulk_preview_targets): an open transaction holding a preview never makes
 * an undo fail side_effect_done.
 */
Datum
bulkorder_preview_revert(PG_FUNCTION_ARGS)
{
	int64		job_id = job_id_arg(fcinfo);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *revert_params;
	BulkTargets targets;
	BulkOperation *op;
	int64		previous;

	InitMaterializedSRF(fcinfo, 0);
	previous = bulk_enter_call(NULL);
	op = prepare_revert(job_id, false, NULL, NULL, NULL, &revert_params, &targets);

	bulk_preview_targets(op, revert_params, &targets, false, rsinfo);
	bulk_leave_call(previous);
	return (Datum) 0;
}
