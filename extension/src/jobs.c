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

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "port/pg_bswap.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "bulkorder_statements.h"

PG_FUNCTION_INFO_V1(bulkorder_run_bulk);
PG_FUNCTION_INFO_V1(bulkorder_preview_bulk);

/*
 * Request keys (docs/api.md: request keys are idempotency keys).
 *
 * A key belongs to a page and to the calling database role (requested_by):
 * another role cannot take it first.  With the key, a job records the
 * fingerprint of its request, request_hash: SHA-256 over the page, the
 * operation, the sorted distinct targets and the normalised params (what
 * bulk_check_params returns: ISO dates, relative words resolved, defaults
 * filled in).  A second call with the key and the same fingerprint gets the
 * first job; with another fingerprint it is refused (22023), naming the
 * first job.  The targets are hashed as one pass over the sorted key array,
 * eight bytes a key in network byte order: a million targets cost one
 * SHA-256 over 8 MB, done only when a key is given.
 */

static pg_cryptohash_ctx *
request_hash_begin(const char *kind, const char *page, const char *operation)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "bulkorder: could not initialise SHA-256: %s", pg_cryptohash_error(ctx));
	/* each field ends with a NUL, so that no two field lists hash alike */
	if (pg_cryptohash_update(ctx, (const uint8 *) kind, strlen(kind) + 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) page, strlen(page) + 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) operation, strlen(operation) + 1) < 0)
		elog(ERROR, "bulkorder: SHA-256 failed: %s", pg_cryptohash_error(ctx));
	return ctx;
}

static void
request_hash_add(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "bulkorder: SHA-256 failed: %s", pg_cryptohash_error(ctx));
}

static void
request_hash_add_jsonb(pg_cryptohash_ctx *ctx, Jsonb *value)
{
	/* jsonb's text form is canonical: keys sorted, numbers as stored */
	char	   *text = value ? JsonbToCString(NULL, &value->root, VARSIZE(value)) : "null";

	request_hash_add(ctx, text, strlen(text) + 1);
}

static bytea *
request_hash_end(pg_cryptohash_ctx *ctx)
{
	bytea	   *result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	if (pg_cryptohash_final(ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "bulkorder: SHA-256 failed: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	return result;
}

/*
 * The fingerprint of a job request: keys sorted and distinct (BulkTargets),
 * params as bulk_check_params returned them.  retry_failed and revert_job
 * have their own (bulk_request_hash_job).
 */
bytea *
bulk_request_hash(const char *page, const char *operation,
				  const int64 *keys, int nkeys, Jsonb *params)
{
	pg_cryptohash_ctx *ctx = request_hash_begin("job", page, operation);
	uint64		buf[1024];
	uint64		n = pg_hton64((uint64) nkeys);

	request_hash_add(ctx, &n, sizeof(n));
	for (int start = 0; start < nkeys; start += lengthof(buf))
	{
		int			count = Min((int) lengthof(buf), nkeys - start);

		for (int i = 0; i < count; i++)
			buf[i] = pg_hton64((uint64) keys[start + i]);
		request_hash_add(ctx, buf, sizeof(uint64) * count);
	}
	request_hash_add_jsonb(ctx, params);
	return request_hash_end(ctx);
}

/*
 * The fingerprint of a request about a job (docs/api.md): call is
 * "retry_failed" or "revert_job", job_id the job it retries or reverts, and
 * request what else defines it (a retry's error codes; NULL for none).  Not
 * the targets: they are derived from the job's items and from what earlier
 * reverts of it undid, so the same request made twice can have fewer.  The
 * call is the hash's first field, so no run_bulk request (kind "job") and
 * no retry can share a fingerprint: a retry sent with the key of the job it
 * retries is another request, refused (22023), never that job returned.
 */
bytea *
bulk_request_hash_job(const char *call, const char *page, int64 job_id, Jsonb *request)
{
	pg_cryptohash_ctx *ctx = request_hash_begin(call, page, "");
	uint64		n = pg_hton64((uint64) job_id);

	request_hash_add(ctx, &n, sizeof(n));
	request_hash_add_jsonb(ctx, request);
	return request_hash_end(ctx);
}

/*
 * The fingerprint of a file request (import_shipments): the file's bytes
 * and the options that decide how they are read.  The job options
 * (request_key, operator, source, async) are not part of the request, as
 * they are not for run_bulk.
 */
bytea *
bulk_request_hash_file(const char *page, const char *operation,
					   const char *data, size_t len, Jsonb *options)
{
	pg_cryptohash_ctx *ctx = request_hash_begin("file", page, operation);
	uint64		n = pg_hton64((uint64) len);
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;

	request_hash_add(ctx, &n, sizeof(n));
	request_hash_add(ctx, data, len);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	it = options ? bulk_object_iterator(options, "options") : NULL;
	while (it && bulk_object_next(&it, &name, &v))
	{
		JsonbValue	key;

		if (bulk_is_call_option(name))
			continue;
		key.type = jbvString;
		key.val.string.val = name;
		key.val.string.len = strlen(name);
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	request_hash_add_jsonb(ctx, JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
	return request_hash_end(ctx);
}

/*
 * The job that holds request_key on this page for the calling role: its id
 * when its request had the same fingerprint, 0 when this snapshot sees no
 * such job.  A different request, or a job of 1.0 that recorded no
 * fingerprint, rejects the call (22023) naming that job.
 */
int64
bulk_request_key_job(const char *page, const char *request_key, bytea *request_hash)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	bool		isnull;
	int64		job_id;
	Datum		first_hash;
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *job_text;

	values[0] = CStringGetTextDatum(page);
	values[1] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	values[2] = CStringGetTextDatum(request_key);
	/* not read-only: a new snapshot sees a concurrent call's committed job */
	bulk_spi_exec("SELECT job_id, request_hash, page || '/' || operation, total_count"
				  " FROM bulkorder.bulk_jobs"
				  " WHERE page = $1 AND requested_by = $2 AND request_key = $3",
				  3, types, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return 0;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	job_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	first_hash = SPI_getbinval(tup, desc, 2, &isnull);
	job_text = psprintf("%lld", (long long) job_id);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request key \"%s\" was used by job %lld, which cannot be compared with this call",
						request_key, (long long) job_id),
				 bulk_errdetail(BMSG_REQUEST_KEY_UNVERIFIABLE, request_key, job_text)));
	if (!DatumGetBool(DirectFunctionCall2(byteaeq, first_hash, PointerGetDatum(request_hash))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request key \"%s\" was already used for a different request", request_key),
				 bulk_errdetail(BMSG_REQUEST_KEY_OTHER_REQUEST, request_key, job_text,
								SPI_getvalue(tup, desc, 3), SPI_getvalue(tup, desc, 4)),
				 bulk_errhint(BMSG_REQUEST_KEY_NEW, NULL)));
	return job_id;
}

/*
 * Insert the job row: params as given, effective_params as the job runs
 * them.  With a request key the calling role already used on this page,
 * nothing is inserted and *existing is set: the first job's id comes back
 * when it was the same request (a double click or a retried HTTP request
 * never runs a job twice), and another request is refused.
 */
static int64
insert_job(BulkOperation *op, Jsonb *params, Jsonb *effective, BulkJobOptions *opts,
		   int64 total, bytea *request_hash, bool *existing)
{
	Oid			types[12] = {TEXTOID, TEXTOID, JSONBOID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, BOOLOID, JSONBOID, BYTEAOID, TEXTOID};
	Datum		values[12];
	char		nulls[12] = "            ";
	bool		isnull;
	int64		job_id;

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
	values[9] = JsonbPGetDatum(effective);
	if (request_hash)
		values[10] = PointerGetDatum(request_hash);
	else
		nulls[10] = 'n';
	values[11] = CStringGetTextDatum(bulk_initial_status(opts->async));

	*existing = false;
	bulk_spi_exec("INSERT INTO bulkorder.bulk_jobs (page, operation, params, status, total_count,"
				  " requested_by, operator, source, request_key, is_async, started_at,"
				  " effective_params, request_hash)"
				  " VALUES ($1, $2, $3, $12, $4,"
				  " $5, $6, $7, $8, $9, CASE WHEN $9 THEN NULL ELSE clock_timestamp() END,"
				  " $10, $11)"
				  " ON CONFLICT (shop_id, page, requested_by, request_key) WHERE request_key IS NOT NULL"
				  " DO NOTHING"
				  " RETURNING job_id",
				  12, types, values, nulls, false, SPI_OK_INSERT_RETURNING);
	if (SPI_processed == 1)
		return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/*
	 * The key is taken.  A new snapshot sees the job of a concurrent call
	 * that committed while this INSERT waited on the key (READ COMMITTED);
	 * under a transaction snapshot that job stays invisible: ask for a retry.
	 */
	*existing = true;
	job_id = bulk_request_key_job(op->page, opts->request_key, request_hash);
	if (job_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("request key \"%s\" was used by a concurrent transaction", opts->request_key),
				 bulk_errhint(BMSG_REQUEST_KEY_CONCURRENT, NULL)));
	return job_id;
}

static void
run_sync(BulkOperation *op, int64 job_id, Jsonb *params, BulkTargets *targets)
{
	MemoryContext chunk_ctx = AllocSetContextCreate(CurrentMemoryContext,
													"bulkorder chunk",
													ALLOCSET_DEFAULT_SIZES);
	int64		succeeded = 0,
				failed = 0;

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
	bulk_finish_sync_job(op, job_id, succeeded, failed);
}

/*
 * A NULL argument rejects the call (22004), naming it; msg is the catalogue's
 * text for it (BMSG_ARG_NULL as a detail, any other as a hint).
 */
static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *name, BulkMsg msg)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 msg == BMSG_ARG_NULL ? bulk_errdetail(msg, name) : bulk_errhint(msg, name)));
}

static char *
required_text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	require_arg(fcinfo, argno, name, BMSG_ARG_NULL);
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static ArrayType *
required_targets_arg(FunctionCallInfo fcinfo, int argno)
{
	require_arg(fcinfo, argno, "targets", BMSG_TARGETS_NULL);
	return PG_GETARG_ARRAYTYPE_P(argno);
}

static Jsonb *
params_arg(FunctionCallInfo fcinfo, int argno)
{
	require_arg(fcinfo, argno, "params", BMSG_PARAMS_NULL);
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
 * Insert, announce and run (or queue) a job: run_bulk's, the import's, a
 * retry's or a revert's.  params is stored as given; normalized is what
 * runs.  With a request key, request_hash is the request's fingerprint, or
 * NULL for the job's own (page, operation, targets, normalized params); a
 * key the calling role already used on the page returns its job without
 * running anything, *existing set.
 */
static int64
start_job(BulkOperation *op, Jsonb *params, Jsonb *normalized, BulkJobOptions *opts,
		  BulkTargets *targets, bytea *request_hash, int64 retry_of, int64 reverts,
		  bool *existing)
{
	int64		job_id;

	if (opts->request_key == NULL)
		request_hash = NULL;
	else if (request_hash == NULL)
		request_hash = bulk_request_hash(op->page, op->operation, targets->keys, targets->count,
										 normalized);
	job_id = insert_job(op, params, normalized, opts, targets->count, request_hash, existing);
	if (*existing)
		return job_id;
	if (retry_of > 0 || reverts > 0)
	{
		Oid			types[3] = {INT8OID, INT8OID, INT8OID};
		Datum		values[3] = {Int64GetDatum(job_id), Int64GetDatum(retry_of), Int64GetDatum(reverts)};
		char		nulls[3] = {' ', retry_of > 0 ? ' ' : 'n', reverts > 0 ? ' ' : 'n'};

		bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET retry_of = $2, reverts = $3 WHERE job_id = $1",
					  3, types, values, nulls, false, SPI_OK_UPDATE);
	}
	bulk_notify(job_id, bulk_accepted_message(op, job_id, targets->count));
	if (opts->async)
		bulk_submit_async(op, job_id, normalized, targets);
	else
		run_sync(op, job_id, normalized, targets);
	return job_id;
}

/*
 * The job API in C, as run_bulk: look the operation up, check params, then
 * start_job; returns the job id.  The caller is connected to SPI and has
 * checked the targets (bulk_targets_from_array) and the options
 * (bulk_parse_options).
 */
int64
bulk_submit_job(const char *page, const char *operation, BulkTargets *targets,
				Jsonb *params, BulkJobOptions *opts, bytea *request_hash, bool *existing)
{
	BulkOperation *op = bulk_lookup_operation(page, operation);
	Jsonb	   *normalized = bulk_check_params(op, params);

	return start_job(op, params, normalized, opts, targets, request_hash, 0, 0, existing);
}

/*
 * run_bulk(page, operation, targets, params, options) RETURNS bigint
 */
Datum
bulkorder_run_bulk(PG_FUNCTION_ARGS)
{
	JobCall		call = job_call_args(fcinfo);
	BulkJobOptions opts = bulk_parse_options(PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4),
											 true, NULL, NULL, BMSG_OPTION_UNKNOWN);
	int64		previous = bulk_enter_call(opts.shop);
	int64		job_id;
	bool		existing;

	job_id = bulk_submit_job(call.page, call.operation, &call.targets, call.params, &opts,
							 NULL, &existing);
	bulk_leave_call(previous);
	PG_RETURN_INT64(job_id);
}

/*
 * A retry's or a revert's job (revert.c): the call's options, and with a
 * request key its fingerprint (bulk_request_hash_job).  Returns the job id
 * (the first job's, for a request key already used).
 */
int64
bulk_start_job(BulkOperation *op, Jsonb *params, Jsonb *normalized, BulkJobOptions *opts,
			   BulkTargets *targets, bytea *request_hash, int64 retry_of, int64 reverts)
{
	bool		existing;

	return start_job(op, params, normalized, opts, targets, request_hash, retry_of, reverts,
					 &existing);
}

/*
 * Run a preview statement that takes locks over one chunk's keys (a
 * revert's: it finds out whether a connector holds an outbox row by locking
 * the row without waiting); its rows, copied into the current memory
 * context, in *rows.  It runs in a subtransaction of its own, rolled back
 * once the rows are copied: that releases the row locks it took, so the
 * preview holds none past its statement, and an open transaction that
 * called it never makes another operator's undo take a row for a
 * connector's (revert_statements.c).  The caller's tuplestore is written
 * after the rollback: one that spills to disk must do so under the
 * caller's resource owner, not the subtransaction's.
 */
static uint64
preview_chunk_unlocked(BulkOperation *op, Datum *values, HeapTuple **rows)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	uint64		n = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			rc = bulk_spi_execute_plan(op->preview_plan, values, NULL, false);

		if (rc != SPI_OK_SELECT)
			elog(ERROR, "bulkorder: preview failed: %s", SPI_result_code_string(rc));
		n = SPI_processed;
		*rows = palloc(sizeof(HeapTuple) * Max(n, 1));
		for (uint64 i = 0; i < n; i++)
			(*rows)[i] = heap_copytuple(SPI_tuptable->vals[i]);
		SPI_freetuptable(SPI_tuptable);

		/* the checks are read: what the statement locked goes */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* leave no subtransaction of ours under a caller's error handler */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ReThrowError(edata);
	}
	PG_END_TRY();
	return n;
}

/*
 * The checks of a job per target, changing nothing, into the caller's
 * materialized result (target, ok, error_code, message): preview_bulk's and
 * preview_revert's.  read_only is false when the preview takes locks (a
 * revert's connector outbox rows): each chunk's statement then gives them
 * back at once (preview_chunk_unlocked).
 */
void
bulk_preview_targets(BulkOperation *op, Jsonb *params, BulkTargets *targets, bool read_only,
					 ReturnSetInfo *rsinfo)
{
	MemoryContext chunk_ctx = AllocSetContextCreate(CurrentMemoryContext,
													"bulkorder preview chunk",
													ALLOCSET_DEFAULT_SIZES);

	/* the preview statement's rows are the result's (BULK_PREVIEW_COL_*) */
	Assert(rsinfo->setDesc->natts == BULK_PREVIEW_NCOLS);
	for (int start = 0; start < targets->count; start += bulkorder_chunk_size)
	{
		int			n = Min(bulkorder_chunk_size, targets->count - start);
		Datum		values[2];
		int			rc;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(chunk_ctx);
		/* on Citus, one delegated call on the shop's node (citus.c) */
		if (bulk_citus_preview_chunk(op, params, targets->keys + start, n, read_only, rsinfo))
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(chunk_ctx);
			continue;
		}
		values[0] = PointerGetDatum(bulk_keys_array(targets->keys + start, n));
		values[1] = JsonbPGetDatum(params);
		if (!read_only)
		{
			HeapTuple  *rows;
			uint64		nrows = preview_chunk_unlocked(op, values, &rows);

			for (uint64 i = 0; i < nrows; i++)
			{
				Datum		out[BULK_PREVIEW_NCOLS];
				bool		nulls[BULK_PREVIEW_NCOLS];

				/* the statement's columns are the function's result's */
				heap_deform_tuple(rows[i], rsinfo->setDesc, out, nulls);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(chunk_ctx);
			continue;
		}
		rc = bulk_spi_execute_plan(op->preview_plan, values, NULL, read_only);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "bulkorder: preview failed: %s", SPI_result_code_string(rc));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			Datum		out[BULK_PREVIEW_NCOLS];
			bool		nulls[BULK_PREVIEW_NCOLS];

			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, out, nulls);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_ctx);
	}
	MemoryContextDelete(chunk_ctx);
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
	int64		previous;

	InitMaterializedSRF(fcinfo, 0);

	previous = bulk_enter_call(NULL);
	op = bulk_lookup_operation(call.page, call.operation);
	normalized = bulk_check_params(op, call.params);

	bulk_preview_targets(op, normalized, &targets, true, rsinfo);

	bulk_leave_call(previous);
	return (Datum) 0;
}
