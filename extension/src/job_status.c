/*-------------------------------------------------------------------------
 *
 * job_status.c
 *	  The one home of a job's status changes and of every notification text
 *	  (ja and en).
 *
 * Every statement that writes bulk_jobs.status is here: the status a job
 * is inserted with (bulk_initial_status), queued -> running
 * (bulk_mark_job_running), and the end of a job: done
 * (bulk_finish_sync_job, bulk_finish_job), cancelled (bulk_finish_job,
 * after bulk_record_cancel) or failed (bulk_fail_job).  The status values
 * themselves are the BULK_STATUS_* constants of bulkorder.h, spliced into
 * every SQL string that names one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "bulkorder.h"

/*
 * Read the job's row: select, a select list over bulkorder.bulk_jobs, in
 * SPI_tuptable's one row.  A job this call's shop does not have is one it
 * cannot know: 22023, as for a job that does not exist.
 */
void
bulk_select_job(int64 job_id, const char *select)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};

	bulk_spi_exec(psprintf("SELECT %s FROM bulkorder.bulk_jobs WHERE job_id = $1", select),
				  1, types, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bulk job %lld does not exist", (long long) job_id)));
}

/* A notification to the job's operator, or else to the role that asked. */
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

static char *
int8_text(int64 n)
{
	return psprintf("%lld", (long long) n);
}

/*
 * A revert's notifications (op->reverts set) name the job it undoes:
 * 「一括更新を取り消しました。注文一覧「キャンセル」(ジョブ #12) 成功 4,998 件 / 失敗 2 件 (ジョブ #31)」
 */
static char *
revert_message(BulkOperation *op, int64 job_id, BulkMsg msg, int64 a, int64 b, const char *who)
{
	return bulk_message(msg, op->page_name, op->op_name, int8_text(op->reverts),
						format_count(a), format_count(b), who, int8_text(job_id));
}

char *
bulk_accepted_message(BulkOperation *op, int64 job_id, int ntargets)
{
	if (op->reverts > 0)
		return bulk_message(BMSG_REVERT_ACCEPTED, op->page_name, op->op_name,
							int8_text(op->reverts), format_count(ntargets), int8_text(job_id));
	return bulk_message(BMSG_JOB_ACCEPTED, op->page_name, op->op_name, int8_text(ntargets),
						int8_text(job_id));
}

char *
bulk_completion_message(BulkOperation *op, int64 job_id, int64 succeeded, int64 failed)
{
	if (op->reverts > 0)
		return revert_message(op, job_id, BMSG_REVERT_FINISHED, succeeded, failed, "");
	return bulk_message(BMSG_JOB_FINISHED, op->page_name, op->op_name, int8_text(succeeded),
						int8_text(failed), int8_text(job_id));
}

/*
 * Who cancelled: the person (cancel_job's operator option) and the role, or
 * the role alone; nobody is named for a job cancelled before 1.1 recorded it.
 */
static char *
cancel_message(BulkOperation *op, int64 job_id, int64 succeeded, int64 failed,
			   const char *role, const char *operator_name)
{
	char	   *who = "";

	if (role && operator_name)
		who = bulk_message(BMSG_CANCELLED_BY_OPERATOR, operator_name, role);
	else if (role)
		who = bulk_message(BMSG_CANCELLED_BY_ROLE, role);
	if (op->reverts > 0)
		return revert_message(op, job_id, BMSG_REVERT_CANCELLED, succeeded, failed, who);
	return bulk_message(BMSG_JOB_CANCELLED, op->page_name, op->op_name, int8_text(succeeded),
						int8_text(failed), who, int8_text(job_id));
}

/* page and op_name are display names: the catalogue may be what broke */
static char *
failure_message(const char *page_name, const char *op_name, int64 job_id,
				int64 succeeded, int64 failed, const char *error)
{
	return bulk_message(BMSG_JOB_FAILED, page_name, op_name, int8_text(succeeded),
						int8_text(failed), error, int8_text(job_id));
}

/*
 * An asynchronous job ends done or cancelled: its status, finished_at, and
 * the completion notification with the counts (and who cancelled).
 */
void
bulk_finish_job(BulkOperation *op, int64 job_id, const char *status)
{
	Oid			types[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3] = {Int64GetDatum(job_id), CStringGetTextDatum(status),
	TimestampTzGetDatum(GetCurrentTimestamp())};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int64		ok,
				ng;
	char	   *message;

	/* the clock as a value: Citus takes no volatile function in an UPDATE */
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = $2, finished_at = $3"
				  " WHERE job_id = $1"
				  " RETURNING success_count, failure_count, cancelled_by, cancelled_by_operator",
				  3, types, values, NULL, false, SPI_OK_UPDATE_RETURNING);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	ok = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	ng = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	if (strcmp(status, BULK_STATUS_CANCELLED) == 0)
		message = cancel_message(op, job_id, ok, ng, SPI_getvalue(tup, desc, 3),
								 SPI_getvalue(tup, desc, 4));
	else
		message = bulk_completion_message(op, job_id, ok, ng);
	SPI_freetuptable(SPI_tuptable);
	bulk_notify(job_id, message);
}

/* The status a job is inserted with: queued for the worker, or running now. */
const char *
bulk_initial_status(bool async)
{
	return async ? BULK_STATUS_QUEUED : BULK_STATUS_RUNNING;
}

/* A queued job's first turn in a worker: running (its row locked already). */
void
bulk_mark_job_running(int64 job_id)
{
	Oid			types[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2] = {Int64GetDatum(job_id), TimestampTzGetDatum(GetCurrentTimestamp())};

	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = '" BULK_STATUS_RUNNING "',"
				  " started_at = coalesce(started_at, $2)"
				  " WHERE job_id = $1",
				  2, types, values, NULL, false, SPI_OK_UPDATE);
}

/*
 * A synchronous job has run every chunk: done, with its counts and cursor,
 * and the completion notification.
 */
void
bulk_finish_sync_job(BulkOperation *op, int64 job_id, int64 succeeded, int64 failed)
{
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		values[4];

	values[0] = Int64GetDatum(job_id);
	values[1] = Int64GetDatum(succeeded);
	values[2] = Int64GetDatum(failed);
	values[3] = TimestampTzGetDatum(GetCurrentTimestamp());
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = '" BULK_STATUS_DONE "',"
				  " processed_count = $2 + $3, success_count = $2, failure_count = $3,"
				  " last_target = (SELECT max(target) FROM bulkorder.bulk_job_items WHERE job_id = $1),"
				  " finished_at = $4 WHERE job_id = $1",
				  4, types, values, NULL, false, SPI_OK_UPDATE);
	bulk_notify(job_id, bulk_completion_message(op, job_id, succeeded, failed));
}

/*
 * A chunk of an asynchronous job has been applied: the job's counts, its
 * cursor (last_target, the chunk's last key) and its turn move on, in the
 * chunk's transaction.  Returns the targets processed so far.
 */
int64
bulk_advance_job(int64 job_id, int64 succeeded, int64 failed, int64 last_target)
{
	Oid			types[5] = {INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		values[5];
	bool		isnull;

	values[0] = Int64GetDatum(job_id);
	values[1] = Int64GetDatum(succeeded);
	values[2] = Int64GetDatum(failed);
	values[3] = Int64GetDatum(last_target);
	values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
	return DatumGetInt64(bulk_spi_exec_value("UPDATE bulkorder.bulk_jobs"
											 " SET processed_count = processed_count + $2 + $3,"
											 " success_count = success_count + $2,"
											 " failure_count = failure_count + $3,"
											 " last_target = $4, last_chunk_at = $5,"
											 " not_before = NULL"
											 " WHERE job_id = $1 RETURNING processed_count",
											 5, types, values, NULL, false,
											 SPI_OK_UPDATE_RETURNING, &isnull));
}

/*
 * Who cancelled an open job: the first to ask is the one recorded, an
 * earlier request made inside a transaction block (a row of
 * bulk_job_cancel_requests), if one has committed, else role and
 * operator_name (cancel_job's caller; NULL for the worker, which records
 * such a request).  Waits at most for a worker's end-of-chunk update of the
 * row.  The status itself changes when the job stops (bulk_finish_job).
 */
void
bulk_record_cancel(int64 job_id, const char *role, const char *operator_name)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = "   ";

	values[0] = Int64GetDatum(job_id);
	if (role)
		values[1] = CStringGetTextDatum(role);
	else
		nulls[1] = 'n';
	if (operator_name)
		values[2] = CStringGetTextDatum(operator_name);
	else
		nulls[2] = 'n';
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs j SET cancel_requested = true,"
				  " cancelled_by = coalesce(r.requested_by, $2),"
				  " cancelled_by_operator = CASE WHEN r.requested_by IS NULL THEN $3 ELSE r.operator END"
				  " FROM (SELECT $1::bigint AS job_id) k"
				  " LEFT JOIN LATERAL (SELECT requested_by, operator FROM bulkorder.bulk_job_cancel_requests q"
				  "                     WHERE q.job_id = k.job_id ORDER BY q.request_id LIMIT 1) r ON true"
				  " WHERE j.job_id = k.job_id AND NOT j.cancel_requested"
				  " AND j.status IN " BULK_SQL_OPEN_STATUSES,
				  3, types, values, nulls, false, SPI_OK_UPDATE);
}

/*
 * The display names of page/operation in the session's language, read
 * without the engine (the catalogue may be what broke): the codes
 * themselves when the catalogue has no such page or operation.
 */
static void
display_names(char **page, char **operation)
{
	Oid			types[3] = {TEXTOID, TEXTOID, BOOLOID};
	Datum		values[3];

	values[0] = CStringGetTextDatum(*page);
	values[1] = CStringGetTextDatum(*operation);
	values[2] = BoolGetDatum(bulkorder_language == BULK_LANG_EN);
	bulk_spi_exec("SELECT coalesce((SELECT CASE WHEN $3 THEN name_en ELSE name_ja END"
				  "                   FROM bulkorder_catalog.pages WHERE page = $1), $1),"
				  "        coalesce((SELECT CASE WHEN $3 THEN name_en ELSE name_ja END"
				  "                   FROM bulkorder_catalog.operations WHERE page = $1 AND operation = $2), $2)",
				  3, types, values, NULL, true, SPI_OK_SELECT);
	*page = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*operation = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
}

/*
 * An asynchronous job breaks off with an error: failed, with the error's
 * message (error_code: the engine's code for it, or NULL), and the failure
 * notification.  Nothing when the job has ended already.
 */
void
bulk_fail_job(int64 job_id, const char *message, const char *error_code)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', error_code ? ' ' : 'n', ' '};
	bool		isnull;
	char	   *page,
			   *operation;
	int64		ok,
				ng;

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(message);
	values[2] = error_code ? CStringGetTextDatum(error_code) : (Datum) 0;
	values[3] = TimestampTzGetDatum(GetCurrentTimestamp());
	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = '" BULK_STATUS_FAILED "', error_message = $2,"
				  " error_code = $3, finished_at = $4"
				  " WHERE job_id = $1 AND status IN " BULK_SQL_OPEN_STATUSES
				  " RETURNING page, operation, success_count, failure_count",
				  4, types, values, nulls, false, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed != 1)
		return;
	page = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	operation = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	ok = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	ng = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	display_names(&page, &operation);
	bulk_notify(job_id, failure_message(page, operation, job_id, ok, ng, message));
}

/*
 * Lock the job's row as an update does (an UPDATE that changes nothing),
 * for the rest of the transaction: two reverts of one job queue up behind
 * each other, and under REPEATABLE READ the second gets a serialization
 * failure, as it would for a change of the row.
 */
void
bulk_lock_job(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};

	bulk_spi_exec("UPDATE bulkorder.bulk_jobs SET status = status WHERE job_id = $1",
				  1, types, values, NULL, false, SPI_OK_UPDATE);
}
