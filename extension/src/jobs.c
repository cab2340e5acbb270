/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  The SQL API of bulk jobs: run_bulk and preview_bulk.
 *
 * A synchronous job runs in the caller's transaction, chunk by chunk, so a
 * rollback leaves no trace and memory stays bounded by the chunk size.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "bulkorder.h"

PG_FUNCTION_INFO_V1(bulkorder_run_bulk);
PG_FUNCTION_INFO_V1(bulkorder_preview_bulk);

typedef struct JobOptions
{
	bool		async;
	char	   *request_key;
	char	   *operator_name;
	char	   *source;
} JobOptions;

/* A text option: NULL for JSON null, else 1 to 200 characters. */
char *
bulk_option_text(const char *name, JsonbValue *v)
{
	if (v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be text", name)));
	if (v->val.string.len == 0 || v->val.string.len > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be 1 to 200 characters long", name)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static JobOptions
parse_options(Jsonb *options)
{
	JobOptions	opts = {false, NULL, NULL, "api"};
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;

	if (options == NULL)
		return opts;
	it = bulk_object_iterator(options, "options");
	while (bulk_object_next(&it, &name, &v))
	{
		if (strcmp(name, "async") == 0)
		{
			if (v.type != jbvBool)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"async\" must be a boolean")));
			opts.async = v.val.boolean;
		}
		else if (strcmp(name, "request_key") == 0)
			opts.request_key = bulk_option_text(name, &v);
		else if (strcmp(name, "operator") == 0)
			opts.operator_name = bulk_option_text(name, &v);
		else if (strcmp(name, "source") == 0)
		{
			char	   *source = bulk_option_text(name, &v);

			opts.source = source ? source : "api";
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\"", name),
					 errhint("The options are async, request_key, operator and source.")));
	}
	return opts;
}

void
bulk_notify(int64 job_id, const char *message)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(job_id), CStringGetTextDatum(message)};

	bulk_spi_exec("INSERT INTO bulkorder.notifications (job_id, recipient, message) "
				  "SELECT $1, coalesce(operator, requested_by), $2 "
				  "FROM bulkorder.bulk_jobs WHERE job_id = $1",
				  2, types, values, NULL, false, SPI_OK_INSERT);
}

/* a count with thousands separators, as the notifications of reverts show it */
static char *
format_count(int64 n)
{
	char	   *digits = psprintf("%lld", (long long) (n < 0 ? -n : n));
	int			len = strlen(digits);
	StringInfoData buf;

	initStringInfo(&buf);
	if (n < 0)
		appendStringInfoChar(&buf, '-');
	for (int i = 0; i < len; i++)
	{
		if (i > 0 && (len - i) % 3 == 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, digits[i]);
	}
	return buf.data;
}

/*
 * The notifications of a revert name the job it undoes:
 * 「一括更新を取り消しました。注文一覧「キャンセル」(ジョブ #12) 成功 4,998 件 / 失敗 2 件 (ジョブ #31)」
 */
static char *
revert_message(BulkOperation *op, int64 job_id, int64 count, int64 succeeded,
			   int64 failed, int kind)
{
	if (kind == 0)
		return psprintf(BULK_LANG_TEXT("一括更新の取り消しを受け付けました。%s「%s」(ジョブ #%lld) 対象 %s 件 (ジョブ #%lld)",
									   "Undo accepted: %s, %s (job #%lld): %s targets (job #%lld)"),
						op->page_name, op->op_name, (long long) op->reverts,
						format_count(count), (long long) job_id);
	return psprintf(kind == 1
					? BULK_LANG_TEXT("一括更新を取り消しました。%s「%s」(ジョブ #%lld) 成功 %s 件 / 失敗 %s 件 (ジョブ #%lld)",
									 "Bulk update undone: %s, %s (job #%lld): %s succeeded / %s failed (job #%lld)")
					: BULK_LANG_TEXT("一括更新の取り消しを中止しました。%s「%s」(ジョブ #%lld) 成功 %s 件 / 失敗 %s 件 (ジョブ #%lld)",
									 "Undo cancelled: %s, %s (job #%lld): %s succeeded / %s failed (job #%lld)"),
					op->page_name, op->op_name, (long long) op->reverts,
					format_count(succeeded), format_count(failed), (long long) job_id);
}

char *
bulk_completion_message(BulkOperation *op, int64 job_id, int64 succeeded,
						int64 failed, bool cancelled)
{
	if (op->reverts > 0)
		return revert_message(op, job_id, 0, succeeded, failed, cancelled ? 2 : 1);
	if (cancelled)
		return psprintf(BULK_LANG_TEXT("一括更新を中止しました。%s「%s」 成功 %lld 件 / 失敗 %lld 件 (ジョブ #%lld)",
									   "Bulk update cancelled: %s, %s: %lld succeeded / %lld failed (job #%lld)"),
						op->page_name, op->op_name, (long long) succeeded,
						(long long) failed, (long long) job_id);
	return psprintf(BULK_LANG_TEXT("一括更新が完了しました。%s「%s」 成功 %lld 件 / 失敗 %lld 件 (ジョブ #%lld)",
								   "Bulk update finished: %s, %s: %lld succeeded / %lld failed (job #%lld)"),
					op->page_name, op->op_name, (long long) succeeded,
					(long long) failed, (long long) job_id);
}

/*
 * Insert the job row.  With a request key already used on this page, the
 * first job's id comes back and *existing is set: a double click or a
 * retried HTTP request never runs a job twice.
 */
static int64
insert_job(BulkOperation *op, Jsonb *params, JobOptions *opts, int64 total, bool *existing)
{
	Oid			types[9] = {TEXTOID, TEXTOID, JSONBOID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, BOOLOID};
	Datum		values[9];
	char		nulls[9] = "         ";
	bool		isnull;

	values[0] = CStringGetTextDatum(op->page);
	values[1] = CStringGetTextDatum(op->operation);
	values[2] = JsonbPGetDatum(params);
	values[3] = Int64GetDatum(total);
	values[4] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	if (opts->operator_name)
		values[5] = CStringGetTextDatum(opts->operator_name);
	else
		nulls[5] = 'n';
	values[6] = CStringGetTextDatum(opts->source);
	if (opts->request_key)
		values[7] = CStringGetTextDatum(opts->request_key);
	else
		nulls[7] = 'n';
	values[8] = BoolGetDatum(opts->async);

	*existing = false;
	bulk_spi_exec("INSERT INTO bulkorder.bulk_jobs (page, operation, params, status, total_count,"
				  " requested_by, operator, source, request_key, is_async, started_at)"
				  " VALUES ($1, $2, $3, CASE WHEN $9 THEN 'queued' ELSE 'running' END, $4,"
				  " $5, $6, $7, $8, $9, CASE WHEN $9 THEN NULL ELSE clock_timestamp() END)"
				  " ON CONFLICT (page, request_key) WHERE request_key IS NOT NULL DO NOTHING"
				  " RETURNING job_id",
				  9, types, values, nulls, false, SPI_OK_INSERT_RETURNING);
	if (SPI_processed == 1)
		return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/*
	 * Not read-only: a new snapshot sees the job of a concurrent call that
	 * committed while this INSERT waited on the key (READ COMMITTED).  Under
	 * a transaction snapshot that job stays invisible: ask for a retry.
	 */
	*existing = true;
	bulk_spi_exec("SELECT job_id FROM bulkorder.bulk_jobs WHERE page = $1 AND request_key = $8",
				  9, types, values, nulls, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("request key \"%s\" was used by a concurrent transaction", opts->request_key),
				 errhint("Retry the call: it will return that transaction's job.")));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
run_sync(BulkOperation *op, int64 job_id, Jsonb *params, BulkTargets *targets)
{
	MemoryContext chunk_ctx = AllocSetContextCreate(CurrentMemoryContext,
													"bulkorder chunk",
													ALLOCSET_DEFAULT_SIZES);
	int64		succeeded = 0,
				failed = 0;
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, TEXTOID};
	Datum		values[4];

	/*
	 * The whole job runs in one transaction: take every lock it needs first,
	 * across all its keys and in the shop's lock order, so that no two
	 * synchronous jobs can deadlock however their chunks interleave.
	 */
	bulk_lock_targets(op, params, targets->keys, targets->count);

	for (int start = 0; start < targets->count; start += bulkorder_chunk_size)
	{
		int			n = Min(bulkorder_chunk_size, targets->count - start);
		int64		ok,
					ng;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(chunk_ctx);
		bulk_apply_chunk(op, job_id, params, targets->keys + start, n, true, &ok, &ng);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_ctx);
		succeeded += ok;
		failed += ng;
	}
	MemoryContextDelete(chunk_ctx);

	values[0] = Int64GetDatum(job_id);
	values[1] = Int64GetDatum(succeeded);
	values[2] = Int64GetDatum(failed);
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = 'done',"
				  " processed_count = $2 + $3, success_count = $2, failure_count = $3,"
				  " last_target = (SELECT max(target) FROM bulkorder.bulk_job_items WHERE job_id = $1),"
				  " finished_at = clock_timestamp() WHERE job_id = $1",
				  3, types, values, NULL, false, SPI_OK_UPDATE);
	bulk_notify(job_id, bulk_completion_message(op, job_id, succeeded, failed, false));
}

static char *
required_text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static ArrayType *
required_targets_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("targets must not be NULL"),
				 errhint("Pass the keys as a bigint[]; an empty array makes an empty job.")));
	return PG_GETARG_ARRAYTYPE_P(argno);
}

static Jsonb *
params_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("params must not be NULL"),
				 errhint("Pass '{}' for an operation without parameters.")));
	return PG_GETARG_JSONB_P(argno);
}

/*
 * run_bulk(page, operation, targets, params, options) RETURNS bigint
 */
Datum
bulkorder_run_bulk(PG_FUNCTION_ARGS)
{
	char	   *page = required_text_arg(fcinfo, 0, "page");
	char	   *operation = required_text_arg(fcinfo, 1, "operation");
	ArrayType  *targets_arr = required_targets_arg(fcinfo, 2);
	Jsonb	   *params = params_arg(fcinfo, 3);
	Jsonb	   *options = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	BulkTargets targets;
	BulkOperation *op;
	Jsonb	   *normalized;
	int64		job_id;

	(void) parse_options(options);	/* bad options reject the call first */
	targets = bulk_targets_from_array(targets_arr);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");

	op = bulk_lookup_operation(page, operation);
	normalized = bulk_check_params(op, params);
	job_id = bulk_start_job(op, params, normalized, options, &targets, 0, 0);

	SPI_finish();
	PG_RETURN_INT64(job_id);
}

/* Reject bad job options (22023) before anything is read or changed. */
void
bulk_check_options(Jsonb *options)
{
	(void) parse_options(options);
}

/*
 * Insert, announce and run (or queue) a job: run_bulk's, a retry's or a
 * revert's.  params is stored as given; normalized is what runs.  Returns
 * the job id (the first job's, for a request key already used).
 */
int64
bulk_start_job(BulkOperation *op, Jsonb *params, Jsonb *normalized, Jsonb *options,
			   BulkTargets *targets, int64 retry_of, int64 reverts)
{
	JobOptions	opts = parse_options(options);
	int64		job_id;
	bool		existing;

	job_id = insert_job(op, params, &opts, targets->count, &existing);
	if (existing)
		return job_id;
	if (retry_of > 0 || reverts > 0)
	{
		Oid			types[3] = {INT8OID, INT8OID, INT8OID};
		Datum		values[3] = {Int64GetDatum(job_id), Int64GetDatum(retry_of), Int64GetDatum(reverts)};
		char		nulls[3] = {' ', retry_of > 0 ? ' ' : 'n', reverts > 0 ? ' ' : 'n'};

		bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET retry_of = $2, reverts = $3 WHERE job_id = $1",
					  3, types, values, nulls, false, SPI_OK_UPDATE);
	}
	if (op->reverts > 0)
		bulk_notify(job_id, revert_message(op, job_id, targets->count, 0, 0, 0));
	else
		bulk_notify(job_id,
					psprintf(BULK_LANG_TEXT("一括更新を受け付けました。%s「%s」 対象 %d 件 (ジョブ #%lld)",
											"Bulk update accepted: %s, %s: %d targets (job #%lld)"),
							 op->page_name, op->op_name, targets->count, (long long) job_id));
	if (opts.async)
		bulk_submit_async(op, job_id, normalized, targets);
	else
		run_sync(op, job_id, normalized, targets);
	return job_id;
}

/*
 * preview_bulk(page, operation, targets, params)
 *	  RETURNS TABLE(target bigint, ok boolean, error_code text, message text)
 *
 * The seed's final confirmation (④): the very checks run_bulk makes, per
 * target, changing nothing.
 */
Datum
bulkorder_preview_bulk(PG_FUNCTION_ARGS)
{
	char	   *page = required_text_arg(fcinfo, 0, "page");
	char	   *operation = required_text_arg(fcinfo, 1, "operation");
	ArrayType  *targets_arr = required_targets_arg(fcinfo, 2);
	Jsonb	   *params = params_arg(fcinfo, 3);
	BulkTargets targets = bulk_targets_from_array(targets_arr);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BulkOperation *op;
	Jsonb	   *normalized;
	MemoryContext chunk_ctx;

	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	op = bulk_lookup_operation(page, operation);
	normalized = bulk_check_params(op, params);

	chunk_ctx = AllocSetContextCreate(CurrentMemoryContext, "bulkorder preview chunk",
									  ALLOCSET_DEFAULT_SIZES);
	for (int start = 0; start < targets.count; start += bulkorder_chunk_size)
	{
		int			n = Min(bulkorder_chunk_size, targets.count - start);
		Datum		values[2];
		int			rc;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(chunk_ctx);
		values[0] = PointerGetDatum(bulk_keys_array(targets.keys + start, n));
		values[1] = JsonbPGetDatum(normalized);
		rc = SPI_execute_plan(op->preview_plan, values, NULL, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "bulkorder: preview failed: %s", SPI_result_code_string(rc));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			Datum		out[4];
			bool		nulls[4];

			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, out, nulls);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_ctx);
	}

	SPI_finish();
	return (Datum) 0;
}
