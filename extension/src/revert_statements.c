/*-------------------------------------------------------------------------
 *
 * revert_statements.c
 *	  Compose the statements of a revert (docs/api.md, revert_job), which
 *	  revert.c's revert_job, preview_revert and retry_failed run.
 *
 * A revert is a job of the original job's page with operation 'revert' and
 * params {"job_id": J, "operation": X, "reapply": bool, "params": X's
 * params}.  Its statements are composed here from X's declaration: they
 * read the items of job J for each target's before/after images, so that
 * the one engine locks, checks, changes, records, chunks and resumes a
 * revert like any other job.  reapply is false when J applied X (the revert
 * withdraws J's outbox rows) and true when J was itself a revert of X (the
 * revert applies X again, with X's side effects, where X's eligibility rules
 * accept the target today).  They return what any job's statements return
 * (bulkorder_statements.h): a revert's run is a counting run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "bulkorder_statements.h"

/* a code listed already (among the first n of codes) */
static bool
code_listed(const char *code, char **codes, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(codes[i], code) == 0)
			return true;
	return false;
}

/*
 * The column definition list of an image read as a record: the changed
 * columns, typed as the table's ("(status pg_catalog.text)"); NULL for none
 * (a record needs a column), where the whole row type is read.  A declared
 * condition, rule or before image may read any column of the after image,
 * so theirs is the whole row too.  jsonb_populate_record of the whole row
 * type would look up and build every column of the table for each target (a
 * twenty-five column row for a one-field image: a tenth of the revert of a
 * cancel, bench/PROFILE.md); jsonb_to_record with this list reads the same
 * fields with the same input functions and typmods, a field the image
 * lacks NULL.
 */
static char *
image_columns(const char *table, char **cols, int ncols)
{
	StringInfoData buf;
	Oid			relid;

	if (ncols == 0)
		return NULL;
	relid = DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(table)));
	initStringInfo(&buf);
	for (int i = 0; i < ncols; i++)
	{
		AttrNumber	attno = get_attnum(relid, cols[i]);
		Oid			typid;
		int32		typmod;
		Oid			collid;

		if (attno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table %s does not exist", cols[i], table),
					 errhint("The operation's changed_columns name the columns its revert restores.")));
		get_atttypetypmodcoll(relid, attno, &typid, &typmod, &collid);
		appendStringInfo(&buf, "%s%s %s", i > 0 ? ", " : "(", quote_identifier(cols[i]),
						 format_type_extended(typid, typmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* An image (jsonb) as a record named alias, in a FROM list: image_columns' */
static void
append_image_record(StringInfo buf, const char *table, const char *image, const char *alias,
					const char *columns)
{
	if (columns)
		appendStringInfo(buf, "jsonb_to_record(%s) AS %s%s", image, alias, columns);
	else
		appendStringInfo(buf, "jsonb_populate_record(NULL::%s, %s) AS %s", table, image, alias);
}

/*
 * The revert's own messages, then those of the operation's eligibility
 * rules (only when it applies the operation again: op_codes, nop), then
 * those of its revert rules.  One row per code, the first kept: the item of
 * a code both lists (points_overflow) is joined to one message, the one of
 * the check that comes first.
 */
static void
append_revert_messages(StringInfo buf, char **op_codes, char **op_messages, int nop,
					   char **codes, char **messages, int nrules)
{
	static char *own[] = {"not_found", "side_effect_done", "changed_since"};

	appendStringInfo(buf, "(VALUES ('not_found', %s), ('side_effect_done', %s), ('changed_since', %s)",
					 quote_literal_cstr(bulk_message(BMSG_ITEM_NOT_FOUND, NULL)),
					 quote_literal_cstr(bulk_message(BMSG_ITEM_SIDE_EFFECT_DONE, NULL)),
					 quote_literal_cstr(bulk_message(BMSG_ITEM_CHANGED_SINCE, NULL)));
	for (int i = 0; i < nop; i++)
		if (!code_listed(op_codes[i], own, lengthof(own)) && !code_listed(op_codes[i], op_codes, i))
			appendStringInfo(buf, ", (%s, %s)",
							 quote_literal_cstr(op_codes[i]), quote_literal_cstr(op_messages[i]));
	for (int i = 0; i < nrules; i++)
		if (!code_listed(codes[i], op_codes, nop) && !code_listed(codes[i], codes, i))
			appendStringInfo(buf, ", (%s, %s)",
							 quote_literal_cstr(codes[i]), quote_literal_cstr(messages[i]));
	appendStringInfoString(buf, ") AS m(code, message)");
}

/*
 * Refuse a revert of an operation that cannot be reverted (0A000, with the
 * catalogue's reason), or whose change the catalogue cannot undo.
 */
void
bulk_check_reversible(const char *page, const char *operation)
{
	BulkRevertDeclaration r;

	if (!bulk_read_revert_declaration(page, operation, &r))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("operation \"%s\" of page \"%s\" is no longer in the catalogue", operation, page),
				 bulk_errdetail(BMSG_REVERT_NOT_DECLARED, NULL)));
	if (!r.reversible)
	{
		char	   *reason = r.irreversible_reason;

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("operation \"%s\" of page \"%s\" cannot be reverted", operation, page),
				 reason ? errdetail("%s", reason) : 0));
	}
	/* an apply_sql operation needs its own revert statement */
	if (!r.own_fields && r.apply_sql == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("operation \"%s\" of page \"%s\" declares no revert", operation, page),
				 bulk_errdetail(BMSG_REVERT_NO_APPLY, NULL)));
}

/*
 * Compose the statements of the revert of page/operation from its
 * declaration (reapply: the revert of a revert, which applies the operation
 * again).  The returned operation has no plans and no reverts yet.
 * Composing checks nothing: bulk_check_reversible says whether a job may
 * run these statements; define_operation compiles them (compile.c).
 */
BulkOperation *
bulk_compose_revert(const char *page, const char *operation, bool reapply, BulkStatements *st)
{
	BulkDeclaration orig;
	BulkRevertDeclaration rd;
	BulkOperation *op;
	char	   *table,
			   *key,
			   *visible,
			   *condition,
			   *before_sql,
			   *apply_sql,
			   *prelock_sql,
			   *lock_sql,
			   *revert_visible,
			   *before_columns,
			   *after_columns;
	char	  **cols,
			  **effects,
			  **codes,
			  **conditions,
			  **messages,
			  **op_codes = NULL,
			  **op_conditions = NULL,
			  **op_messages = NULL;
	char	  **join;			/* the operation's target_join */
	int			ncols,
				neffects,
				nrules,
				nop = 0;
	bool		whole_after,
				withdraw,
				wreq = false,
				wmail = false;
	StringInfoData prefix,
				check,
				preview,
				run;

	/* the original operation: its names, page and change (an unknown one refused) */
	bulk_read_declaration(page, operation, &orig);
	table = orig.table;
	key = orig.key;
	visible = orig.visible;
	cols = orig.cols;
	ncols = orig.ncols;
	effects = orig.effects;
	neffects = orig.neffects;
	join = orig.join;
	if (reapply)
	{
		/* applied again only where the operation would accept the target */
		op_codes = orig.rules.codes;
		op_conditions = orig.rules.conditions;
		op_messages = orig.rules.messages;
		nop = orig.rules.n;
	}

	memset(&rd, 0, sizeof(rd));
	(void) bulk_read_revert_declaration(page, operation, &rd);
	condition = rd.condition;
	before_sql = rd.before_sql;
	apply_sql = rd.apply_sql;
	prelock_sql = rd.prelock_sql;
	lock_sql = rd.lock_sql;
	codes = rd.rules.codes;
	conditions = rd.rules.conditions;
	messages = rd.rules.messages;
	nrules = rd.rules.n;
	revert_visible = rd.visible_condition;

	/*
	 * The images' columns, typed once, where a record reads them: the
	 * generic change's before image, the generic check's after image (an
	 * apply_sql's changed columns need not be the table's).
	 */
	whole_after = condition || nrules > 0 || before_sql;
	before_columns = (apply_sql && whole_after) ? NULL : image_columns(table, cols, ncols);
	after_columns = whole_after ? NULL : before_columns;

	op = palloc0(sizeof(BulkOperation));
	op->page = pstrdup(page);
	op->operation = "revert";
	op->page_name = orig.page_name;
	op->op_name = orig.op_name;
	op->param_spec = NULL;

	/*
	 * Undoing a job that queued outbox rows withdraws them (never un-sends):
	 * the payment requests and/or mails its side effects write, by the
	 * target's order number.
	 */
	withdraw = !reapply && neffects > 0;
	for (int i = 0; withdraw && i < neffects; i++)
	{
		wreq |= strstr(effects[i], "bulkorder.payment_requests") != NULL;
		wmail |= strstr(effects[i], "bulkorder.mail_outbox") != NULL;
	}

	/*
	 * The shared CTEs: the original params (p, as the operation's fragments
	 * expect), and the outbox rows that can still be withdrawn, locked
	 * without waiting: one a connector holds is taken.  No statement joins
	 * two CTE scans: without an index, a nested loop over a chunk (chosen on
	 * the estimates of a freshly filled table) would be quadratic; a CTE is
	 * only probed through a hashed subplan.  The outbox rows are locked per
	 * target (LATERAL: the chunk's keys drive the index, whatever the
	 * estimates say), in no particular order: SKIP LOCKED never waits, so
	 * the order cannot deadlock, and an ORDER BY would start a sort per
	 * target.
	 */
	initStringInfo(&prefix);
	appendStringInfoString(&prefix, "WITH prm AS (SELECT $2::jsonb->'params' AS p)");
	if (wreq)
		appendStringInfoString(&prefix,
							   ", held_requests AS MATERIALIZED (SELECT r.request_id, r.order_no"
							   " FROM unnest($1::bigint[]) AS k(target) CROSS JOIN LATERAL"
							   " (SELECT x.request_id, x.order_no FROM bulkorder.payment_requests x"
							   " WHERE x.job_id = ($2::jsonb->>'job_id')::bigint AND x.order_no = k.target"
							   " AND x.status = 'pending' AND x.attempts = 0"
							   " FOR UPDATE SKIP LOCKED) AS r)");
	if (wmail)
		appendStringInfoString(&prefix,
							   ", held_mails AS MATERIALIZED (SELECT m.mail_id, m.order_no"
							   " FROM unnest($1::bigint[]) AS k(target) CROSS JOIN LATERAL"
							   " (SELECT x.mail_id, x.order_no FROM bulkorder.mail_outbox x"
							   " WHERE x.job_id = ($2::jsonb->>'job_id')::bigint AND x.order_no = k.target"
							   " AND x.sent_at IS NULL AND x.withdrawn_at IS NULL"
							   " FOR UPDATE SKIP LOCKED) AS m)");

	/* the check: not_found, side_effect_done, changed_since, then the rules */
	initStringInfo(&check);
	appendStringInfo(&check,
					 "SELECT i.target, CASE WHEN t.%s IS NULL OR s.target IS NULL THEN 'not_found'", key);
	if (wreq)
		appendStringInfoString(&check, " WHEN taken_request.found THEN 'side_effect_done'");
	if (wmail)
		appendStringInfoString(&check, " WHEN taken_mail.found THEN 'side_effect_done'");
	appendStringInfoString(&check, " WHEN NOT coalesce((");
	if (condition)
		appendStringInfoString(&check, condition);
	else
	{
		/* every field of the after image still holds its value */
		if (ncols == 0)
			appendStringInfoString(&check, "true");
		for (int i = 0; i < ncols; i++)
			appendStringInfo(&check, "%st.%s IS NOT DISTINCT FROM a.%s", i > 0 ? " AND " : "",
							 quote_identifier(cols[i]), quote_identifier(cols[i]));
	}
	appendStringInfoString(&check, "), false) THEN 'changed_since'");
	if (nop > 0)
		appendStringInfoString(&check, " WHEN orig.error_code IS NOT NULL THEN orig.error_code");
	bulk_append_rule_cases(&check, codes, conditions, nrules);
	appendStringInfo(&check, " END AS error_code, CASE WHEN t.%s IS NOT NULL AND s.target IS NOT NULL THEN ",
					 key);
	if (before_sql)
		appendStringInfo(&check, "(%s)", before_sql);
	else
		bulk_append_image(&check, "t", cols, ncols);
	/*
	 * The rows the revert sees: the undo, those its declaration says (the
	 * undo of 削除 sees deleted orders); applying the operation again, those
	 * the operation sees.  The reverted item is probed per target (LATERAL
	 * with LIMIT, which the planner cannot flatten): as a plain join, the
	 * estimate of one item per job made the planner scan the job's items
	 * once per target, quadratic in the chunk (10,000 targets: 24e9
	 * instructions, bench/PROFILE.md).
	 */
	appendStringInfo(&check,
					 " END AS before, s.before AS src_before, s.after AS src_after, t.ctid AS tid"
					 " FROM unnest($1::bigint[]) AS i(target) CROSS JOIN prm"
					 " LEFT JOIN LATERAL (SELECT x.* FROM bulkorder.bulk_job_items x"
					 " WHERE x.job_id = ($2::jsonb->>'job_id')::bigint AND x.target = i.target AND x.ok"
					 " LIMIT 1) AS s ON true"
					 " LEFT JOIN %s AS t ON t.%s = i.target AND (%s) LEFT JOIN LATERAL ",
					 table, key, (revert_visible && !reapply) ? revert_visible : visible);
	append_image_record(&check, table, "s.after", "a", after_columns);
	appendStringInfoString(&check, " ON true");

	/*
	 * side_effect_done: a live outbox row of the target that the revert
	 * could not lock, probed per target (LATERAL with LIMIT).  As an EXISTS
	 * in the CASE, the planner, which expects few rows of a job just
	 * written, chose its hashed form: every chunk read all the job's
	 * requests (and, through the shop's key, every request of the shop),
	 * so the revert grew with the job and with the queue's history.
	 */
	if (wreq)
		appendStringInfoString(&check,
							   " LEFT JOIN LATERAL (SELECT true AS found FROM bulkorder.payment_requests r"
							   " WHERE r.job_id = ($2::jsonb->>'job_id')::bigint AND r.order_no = i.target"
							   " AND r.status <> 'withdrawn'"
							   " AND r.request_id NOT IN (SELECT h.request_id FROM held_requests h)"
							   " LIMIT 1) AS taken_request ON true");
	if (wmail)
		appendStringInfoString(&check,
							   " LEFT JOIN LATERAL (SELECT true AS found FROM bulkorder.mail_outbox m"
							   " WHERE m.job_id = ($2::jsonb->>'job_id')::bigint AND m.order_no = i.target"
							   " AND m.withdrawn_at IS NULL"
							   " AND m.mail_id NOT IN (SELECT h.mail_id FROM held_mails h)"
							   " LIMIT 1) AS taken_mail ON true");
	if (nop > 0)
	{
		/*
		 * The operation's eligibility rules, in their order: the first the
		 * target fails, as the operation's own check finds it.  In a scope
		 * of their own, where t is the target's row and the declared
		 * target_join has its alias, as the rules were written for: here s
		 * is the reverted item, and the import's staged row is s too.  p is
		 * the operation's params (prm), i the target.
		 */
		appendStringInfoString(&check,
							   " LEFT JOIN LATERAL (SELECT CASE WHEN false THEN NULL::text");
		bulk_append_rule_cases(&check, op_codes, op_conditions, nop);
		appendStringInfo(&check, " END AS error_code FROM %s AS t", table);
		bulk_append_target_join(&check, join, "i.target");
		appendStringInfo(&check, " WHERE t.%s = i.target) AS orig ON true", key);
	}

	/* the preview: BULK_PREVIEW_COL_* */
	initStringInfo(&preview);
	appendStringInfo(&preview,
					 "%s, checked AS (%s)"
					 " SELECT c.target, c.error_code IS NULL, c.error_code, m.message"
					 " FROM checked c LEFT JOIN ",
					 prefix.data, check.data);
	append_revert_messages(&preview, op_codes, op_messages, nop, codes, messages, nrules);
	appendStringInfoString(&preview, " ON m.code = c.error_code ORDER BY c.target");

	initStringInfo(&run);
	/*
	 * eligible carries the images, so that no statement joins two CTE scans
	 * (no index: a nested loop over a chunk is quadratic).
	 */
	appendStringInfo(&run,
					 "%s, checked AS MATERIALIZED (%s),"
					 " eligible AS (SELECT target, src_before AS before, src_after AS after, tid"
					 " FROM checked WHERE error_code IS NULL), ",
					 prefix.data, check.data);
	if (apply_sql)
		appendStringInfoString(&run, apply_sql);
	else
	{
		/* the generic revert: the fields back to the before image */
		appendStringInfo(&run, "applied AS (UPDATE %s AS t SET ", table);
		for (int i = 0; i < ncols; i++)
			appendStringInfo(&run, "%s%s = b.%s", i > 0 ? ", " : "",
							 quote_identifier(cols[i]), quote_identifier(cols[i]));
		/*
		 * By the checked row's ctid: the rows are locked before this
		 * statement, so the version it read is the latest and cannot move.
		 */
		appendStringInfoString(&run, " FROM eligible s CROSS JOIN LATERAL ");
		append_image_record(&run, table, "s.before", "b", before_columns);
		appendStringInfo(&run, " WHERE t.ctid = s.tid AND t.%s = s.target RETURNING t.%s AS target, ",
						 key, key);
		bulk_append_image(&run, "t", cols, ncols);
		/* as for the operation's own run: effects re-applied may read it */
		appendStringInfoString(&run, " AS after, s.tid AS old_tid)");
	}
	/*
	 * The rows to withdraw are the ones held_requests / held_mails locked: a
	 * target is applied only when no row of it was left to a connector.
	 */
	if (wreq)
		appendStringInfoString(&run,
							   ", withdrawn_requests AS (UPDATE bulkorder.payment_requests r"
							   " SET status = 'withdrawn', completed_at = clock_timestamp()"
							   " FROM applied a"
							   " WHERE r.job_id = ($2::jsonb->>'job_id')::bigint AND r.order_no = a.target"
							   " AND r.status = 'pending' AND r.attempts = 0 RETURNING 1)");
	if (wmail)
		appendStringInfoString(&run,
							   ", withdrawn_mails AS (UPDATE bulkorder.mail_outbox m"
							   " SET withdrawn_at = clock_timestamp()"
							   " FROM applied a"
							   " WHERE m.job_id = ($2::jsonb->>'job_id')::bigint AND m.order_no = a.target"
							   " AND m.sent_at IS NULL AND m.withdrawn_at IS NULL RETURNING 1)");
	if (reapply)
		bulk_append_effects(&run, effects, neffects);
	/* a counting run: BULK_RUN_COL_* */
	appendStringInfoString(&run,
						   ", items AS (INSERT INTO bulkorder.bulk_job_items"
						   " (job_id, target, ok, error_code, message, before, after)"
						   " SELECT $3, c.target, c.error_code IS NULL, c.error_code, m.message,"
						   " c.before, a.after FROM checked c"
						   " LEFT JOIN applied a ON a.target = c.target LEFT JOIN ");
	append_revert_messages(&run, op_codes, op_messages, nop, codes, messages, nrules);
	appendStringInfoString(&run,
						   " ON m.code = c.error_code RETURNING ok, after IS NOT NULL AS done)"
						   BULK_SQL_RUN_RESULT);

	/* the page's rows in key order, as for any job of the page */
	bulk_set_statements(st, table, key, prelock_sql, lock_sql, preview.data, run.data, NULL);
	return op;
}
