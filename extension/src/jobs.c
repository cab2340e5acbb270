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
#include "mb/pg_wchar.h"
#include "miscadmin.h"
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

/* A text option: NULL for JSON null, else 1 to 200 characters (not bytes). */
char *
bulk_option_text(const char *name, JsonbValue *v)
{
	if (v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be text", name)));
	if (v->val.string.len == 0 ||
		pg_mbstrlen_with_len(v->val.string.val, v->val.string.len) > 200)
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
				  " VALUES ($1, $2, $3, CASE WHEN $9 THEN '" BULK_STATUS_QUEUED "' ELSE '" BULK_STATUS_RUNNING "' END, $4,"
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
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = '" BULK_STATUS_DONE "',"
				  " processed_count = $2 + $3, success_count = $2, failure_count = $3,"
				  " last_target = (SELECT max(target) FROM bulkorder.bulk_job_items WHERE job_id = $1),"
				  " finished_at = clock_timestamp() WHERE job_id = $1",
				  3, types, values, NULL, false, SPI_OK_UPDATE);
	bulk_notify(job_id, bulk_completion_message(op, job_id, succeeded, failed));
}

/* A NULL argument rejects the call (22004), naming it. */
static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *name, const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 hint ? errhint("%s", hint) : 0));
}

static char *
required_text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	require_arg(fcinfo, argno, name, NULL);
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static ArrayType *
required_targets_arg(FunctionCallInfo fcinfo, int argno)
{
	require_arg(fcinfo, argno, "targets",
				"Pass the keys as a bigint[]; an empty array makes an empty job.");
	return PG_GETARG_ARRAYTYPE_P(argno);
}

static Jsonb *
params_arg(FunctionCallInfo fcinfo, int argno)
{
	require_arg(fcinfo, argno, "params", "Pass '{}' for an operation without parameters.");
	return PG_GETARG_JSONB_P(argno);
}

/* The four arguments run_bulk and preview_bulk share, checked. */
typedef struct JobCall
{
	char	   *page;
	char	   *operation;
	Jsonb	   *params;
	BulkTargets targets;
} JobCall;

static JobCall
job_call_args(FunctionCallInfo fcinfo)
{
	JobCall		call;

	call.page = required_text_arg(fcinfo, 0, "page");
	call.operation = required_text_arg(fcinfo, 1, "operation");
	call.targets = bulk_targets_from_array(required_targets_arg(fcinfo, 2));
	call.params = params_arg(fcinfo, 3);
	return call;
}

/*
 * run_bulk(page, operation, targets, params, options) RETURNS bigint
 */
Datum
bulkorder_run_bulk(PG_FUNCTION_ARGS)
{
	JobCall		call = job_call_args(fcinfo);
	JobOptions	opts = parse_options(PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4));
	BulkOperation *op;
	Jsonb	   *normalized;
	int64		job_id;
	bool		existing;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");

	op = bulk_lookup_operation(call.page, call.operation);
	normalized = bulk_check_params(op, call.params);
	job_id = insert_job(op, call.params, &opts, call.targets.count, &existing);
	if (!existing)
	{
		bulk_notify(job_id, bulk_accepted_message(op, job_id, call.targets.count));
		if (opts.async)
			bulk_submit_async(op, job_id, normalized, &call.targets);
		else
			run_sync(op, job_id, normalized, &call.targets);
	}

	SPI_finish();
	PG_RETURN_INT64(job_id);
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
	JobCall		call = job_call_args(fcinfo);
	BulkTargets targets = call.targets;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BulkOperation *op;
	Jsonb	   *normalized;
	MemoryContext chunk_ctx;

	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "bulkorder: SPI_connect failed");
	op = bulk_lookup_operation(call.page, call.operation);
	normalized = bulk_check_params(op, call.params);

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
