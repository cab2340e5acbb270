/*-------------------------------------------------------------------------
 *
 * job_status.c
 *	  The one home of a job's status changes and of every notification text
 *	  (ja and en).
 *
 * The status values themselves are the BULK_STATUS_* constants of
 * bulkorder.h, spliced into every SQL string that names one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "bulkorder.h"

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

/*
 * A revert's notifications (op->reverts set) name the job it undoes:
 * 「一括更新を取り消しました。注文一覧「キャンセル」(ジョブ #12) 成功 4,998 件 / 失敗 2 件 (ジョブ #31)」
 */
static char *
revert_message(BulkOperation *op, int64 job_id, const char *ja, const char *en,
			   int64 a, int64 b, const char *who)
{
	return psprintf(BULK_LANG_TEXT(ja, en), op->page_name, op->op_name, (long long) op->reverts,
					format_count(a), format_count(b), who, (long long) job_id);
}

char *
bulk_accepted_message(BulkOperation *op, int64 job_id, int ntargets)
{
	if (op->reverts > 0)
		return psprintf(BULK_LANG_TEXT("一括更新の取り消しを受け付けました。%s「%s」(ジョブ #%lld) 対象 %s 件 (ジョブ #%lld)",
									   "Undo accepted: %s, %s (job #%lld): %s targets (job #%lld)"),
						op->page_name, op->op_name, (long long) op->reverts,
						format_count(ntargets), (long long) job_id);
	return psprintf(BULK_LANG_TEXT("一括更新を受け付けました。%s「%s」 対象 %d 件 (ジョブ #%lld)",
								   "Bulk update accepted: %s, %s: %d targets (job #%lld)"),
					op->page_name, op->op_name, ntargets, (long long) job_id);
}

char *
bulk_completion_message(BulkOperation *op, int64 job_id, int64 succeeded, int64 failed)
{
	if (op->reverts > 0)
		return revert_message(op, job_id,
							  "一括更新を取り消しました。%s「%s」(ジョブ #%lld) 成功 %s 件 / 失敗 %s 件%s (ジョブ #%lld)",
							  "Bulk update undone: %s, %s (job #%lld): %s succeeded / %s failed%s (job #%lld)",
							  succeeded, failed, "");
	return psprintf(BULK_LANG_TEXT("一括更新が完了しました。%s「%s」 成功 %lld 件 / 失敗 %lld 件 (ジョブ #%lld)",
								   "Bulk update finished: %s, %s: %lld succeeded / %lld failed (job #%lld)"),
					op->page_name, op->op_name, (long long) succeeded,
					(long long) failed, (long long) job_id);
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
		who = psprintf(BULK_LANG_TEXT(" 中止した人: %s (ロール %s)", ", cancelled by %s (role %s)"),
					   operator_name, role);
	else if (role)
		who = psprintf(BULK_LANG_TEXT(" 中止した人: ロール %s", ", cancelled by role %s"), role);
	if (op->reverts > 0)
		return revert_message(op, job_id,
							  "一括更新の取り消しを中止しました。%s「%s」(ジョブ #%lld) 成功 %s 件 / 失敗 %s 件%s (ジョブ #%lld)",
							  "Undo cancelled: %s, %s (job #%lld): %s succeeded / %s failed%s (job #%lld)",
							  succeeded, failed, who);
	return psprintf(BULK_LANG_TEXT("一括更新を中止しました。%s「%s」 成功 %lld 件 / 失敗 %lld 件%s (ジョブ #%lld)",
								   "Bulk update cancelled: %s, %s: %lld succeeded / %lld failed%s (job #%lld)"),
					op->page_name, op->op_name, (long long) succeeded,
					(long long) failed, who, (long long) job_id);
}

/* page and op_name are display names: the catalogue may be what broke */
char *
bulk_failure_message(const char *page_name, const char *op_name, int64 job_id,
					 int64 succeeded, int64 failed, const char *error)
{
	return psprintf(BULK_LANG_TEXT("一括更新がエラーで中断しました。%s「%s」 中断までに 成功 %lld 件 / 失敗 %lld 件 エラー: %s (ジョブ #%lld)",
								   "Bulk update broke off with an error: %s, %s: %lld succeeded / %lld failed before it: %s (job #%lld)"),
					page_name, op_name, (long long) succeeded, (long long) failed, error,
					(long long) job_id);
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
