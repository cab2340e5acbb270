/*-------------------------------------------------------------------------
 *
 * statements.c
 *	  Compose the statements of a job from its operation's declaration:
 *	  the lock statements, the preview, the run and (for a set_clause) the
 *	  fail statement.  What each returns is bulkorder_statements.h's.
 *
 * Composition only builds text: plan_cache.c prepares and keeps the
 * statements for jobs, compile.c compiles them when an operation is
 * declared.  The pieces below (images, rule cases, target_join, effects,
 * the lock statements) are shared with a revert's statements
 * (revert_statements.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "bulkorder_statements.h"

/* The parameters as p (NOT MATERIALIZED: see the preview in compose_statements) */
#define PRM_CTE "WITH prm AS NOT MATERIALIZED (SELECT $2::jsonb AS p)"

/*
 * The message of an item's error code, as an expression over c.error_code:
 * NULL at once for a target that passed (most of them), no join.
 */
void
bulk_append_item_message(StringInfo buf, char **codes, char **messages, int nrules)
{
	appendStringInfo(buf, "CASE WHEN c.error_code IS NULL THEN NULL"
					 " WHEN c.error_code = 'not_found' THEN %s",
					 quote_literal_cstr(bulk_message(BMSG_ITEM_NOT_FOUND, NULL)));
	for (int i = 0; i < nrules; i++)
		appendStringInfo(buf, " WHEN c.error_code = %s THEN %s",
						 quote_literal_cstr(codes[i]), quote_literal_cstr(messages[i]));
	appendStringInfoString(buf, " END");
}

/* jsonb_build_object('col', <alias>.col, ...) over the changed columns */
void
bulk_append_image(StringInfo buf, const char *alias, char **cols, int ncols)
{
	if (ncols == 0)
	{
		appendStringInfoString(buf, "'{}'::jsonb");
		return;
	}
	appendStringInfoString(buf, "jsonb_build_object(");
	for (int i = 0; i < ncols; i++)
		appendStringInfo(buf, "%s%s, %s.%s", i > 0 ? ", " : "",
						 quote_literal_cstr(cols[i]), alias, quote_identifier(cols[i]));
	appendStringInfoChar(buf, ')');
}

/* The before image of a target's row t: before_sql, or its changed columns */
static void
append_before(StringInfo buf, const char *before_sql, char **cols, int ncols)
{
	if (before_sql)
		appendStringInfo(buf, "(%s)", before_sql);
	else
		bulk_append_image(buf, "t", cols, ncols);
}

/*
 * The eligibility rules in their order, as WHEN branches of a CASE: the
 * first a target fails gives its error code (codes NULL: gives false).
 */
void
bulk_append_rule_cases(StringInfo buf, char **codes, char **conditions, int nrules)
{
	for (int i = 0; i < nrules; i++)
		appendStringInfo(buf, " WHEN NOT coalesce((%s), false) THEN %s",
						 conditions[i], codes ? quote_literal_cstr(codes[i]) : "false");
}

/*
 * The declared row of other data per target (target_join), joined on the
 * target's key, given as target: each statement names the key its own way
 * (i.target, bulkorder_old.old_key).  A LATERAL probe of at most one row:
 * one index search per target, whatever the planner guesses of a freshly
 * filled table (a plain join let it read the whole upload once per target),
 * and never two rows for one target.  Nothing when none is declared.
 */
void
bulk_append_target_join(StringInfo buf, char **join, const char *target)
{
	const char *alias;

	if (join[0] == NULL)
		return;
	alias = quote_identifier(join[1]);
	appendStringInfo(buf, " LEFT JOIN LATERAL (SELECT * FROM %s AS %s WHERE (%s) AND %s.%s = %s LIMIT 1) AS %s ON true",
					 join[0], alias, join[3], alias, quote_identifier(join[2]), target, alias);
}

/* The side effects, as CTEs effect_1, effect_2, ... of a run statement */
void
bulk_append_effects(StringInfo buf, char **effects, int neffects)
{
	for (int i = 0; i < neffects; i++)
		appendStringInfo(buf, ", effect_%d AS (%s)", i + 1, effects[i]);
}

/*
 * The statements of a job: the page's rows locked in key order (two jobs
 * over the same keys can never deadlock), the declared locks of rows before
 * and beside them, the preview and the run.  Every lock statement only
 * counts what it locked (BULK_LOCK_COL_LOCKED), so locking a whole job's
 * rows at once materializes nothing.
 */
void
bulk_set_statements(BulkStatements *st, const char *table, const char *key,
					const char *prelock_sql, const char *lock_sql,
					char *preview, char *run, char *fail)
{
	/*
	 * A run with a fail statement (the pipeline) locks the page's rows
	 * itself: when no row of another table is locked before or after them,
	 * there is no separate lock statement.
	 */
	if (fail && !prelock_sql && !lock_sql)
		st->lock = NULL;
	else
		st->lock = psprintf("SELECT count(*) FROM (SELECT 1 FROM %s AS t WHERE t.%s = ANY ($1)"
							" ORDER BY t.%s FOR NO KEY UPDATE OF t) AS locked",
							table, key, key);
	st->prelock = prelock_sql ? psprintf("SELECT count(*) FROM (%s) AS locked", prelock_sql) : NULL;
	st->extra_lock = lock_sql ? psprintf("SELECT count(*) FROM (%s) AS locked", lock_sql) : NULL;
	st->preview = preview;
	st->run = run;
	st->fail = fail;
}

/* Compose the statements of the declaration d into *st. */
static void
compose_statements(const BulkDeclaration *d, BulkStatements *st)
{
	const char *table = d->table;
	const char *key = d->key;
	const char *visible = d->visible;
	const char *set_clause = d->set_clause;
	const char *apply_sql = d->apply_sql;
	const char *before_sql = d->before_sql;
	char	  **cols = d->cols;
	int			ncols = d->ncols;
	char	  **effects = d->effects;
	int			neffects = d->neffects;
	char	  **codes = d->rules.codes;
	char	  **conditions = d->rules.conditions;
	char	  **messages = d->rules.messages;
	int			nrules = d->rules.n;
	char	  **join = (char **) d->join;
	StringInfoData check,
				preview,
				run,
				failed;
	char	   *fail;

	/*
	 * The check: the first failing rule of each target, in declared order,
	 * and the before image of the fields the change touches.
	 */
	initStringInfo(&check);
	appendStringInfo(&check,
					 "SELECT i.target, CASE WHEN t.%s IS NULL THEN 'not_found'", key);
	bulk_append_rule_cases(&check, codes, conditions, nrules);
	appendStringInfo(&check, " END AS error_code, CASE WHEN t.%s IS NOT NULL THEN ", key);
	append_before(&check, before_sql, cols, ncols);
	appendStringInfo(&check,
					 " END AS before"
					 " FROM unnest($1::bigint[]) AS i(target) CROSS JOIN prm"
					 " LEFT JOIN %s AS t ON t.%s = i.target AND (%s)",
					 table, key, visible);
	bulk_append_target_join(&check, join, "i.target");

	/* the preview: BULK_PREVIEW_COL_* */
	initStringInfo(&preview);
	/*
	 * prm is NOT MATERIALIZED: inlined where it is used, p is the parameter
	 * itself, so what a rule or a set clause derives from p alone (e.g.
	 * ARRAY(SELECT jsonb_array_elements_text(p->'add'))) is an InitPlan
	 * computed once per statement, not a SubPlan run for every row.
	 */
	appendStringInfo(&preview,
					 PRM_CTE ", checked AS (%s)"
					 " SELECT c.target, c.error_code IS NULL, c.error_code, ",
					 check.data);
	bulk_append_item_message(&preview, codes, messages, nrules);
	appendStringInfoString(&preview, " FROM checked c ORDER BY c.target");

	/*
	 * The run: check, change, side effects and items in one statement, so a
	 * chunk's changes and their history can never part.
	 */
	initStringInfo(&run);
	fail = NULL;
	if (set_clause)
	{
		/*
		 * A change of the target's own fields is one pipeline, like the
		 * UPDATE a DBA would write: the key's index feeds the UPDATE, the
		 * rules filter it (in their declared order, inside one CASE), and
		 * RETURNING feeds the items; nothing is materialized per target.
		 *
		 * bulkorder_old locks every target's row in key order (two jobs
		 * never deadlock) and gives the row as locked: its latest version,
		 * for the before image (RETURNING has no old values in PostgreSQL
		 * 15) and the effects' old_tid.  The UPDATE takes that version by
		 * its ctid.  A row another transaction changed after this
		 * statement's snapshot was taken is invisible to it there, so it
		 * is left unchanged rather than changed from a stale check;
		 * engine.c runs the statement again for such rows, which this
		 * transaction then holds, under a new snapshot.
		 */
		appendStringInfo(&run,
						 PRM_CTE ","
						 " applied AS (UPDATE %s AS t SET %s"
						 " FROM (SELECT t.ctid AS old_tid, ",
						 table, set_clause);
		append_before(&run, before_sql, cols, ncols);
		if (join[0])
			appendStringInfo(&run, " AS old_image, t.%s AS old_key", key);
		else
			appendStringInfoString(&run, " AS old_image");

		/*
		 * The declared join meets the row by the key it had when locked: an
		 * UPDATE's FROM cannot refer to its target t.
		 */
		appendStringInfo(&run,
						 " FROM %s AS t CROSS JOIN prm WHERE t.%s = ANY ($1)"
						 " ORDER BY t.%s FOR NO KEY UPDATE OF t) AS bulkorder_old CROSS JOIN prm",
						 table, key, key);
		bulk_append_target_join(&run, join, "bulkorder_old.old_key");
		appendStringInfo(&run,
						 " WHERE t.ctid = bulkorder_old.old_tid"
						 " AND CASE WHEN NOT coalesce((%s), false) THEN false",
						 visible);
		bulk_append_rule_cases(&run, NULL, conditions, nrules);
		appendStringInfo(&run, " ELSE true END RETURNING t.%s AS target,"
						 " bulkorder_old.old_image AS before, ", key);
		bulk_append_image(&run, "t", cols, ncols);

		/*
		 * old_tid: where the row's version before the change is.  The
		 * statement's snapshot still sees that version (its own changes are
		 * invisible to it), so an effect can read the row as it was with a
		 * Tid Scan (o.ctid = a.old_tid) instead of probing the key's index.
		 */
		appendStringInfoString(&run, " AS after, bulkorder_old.old_tid)");
		bulk_append_effects(&run, effects, neffects);
		/* BULK_PIPELINE_COL_* */
		appendStringInfoString(&run,
							   ", items AS (INSERT INTO bulkorder.bulk_job_items"
							   " (job_id, target, ok, before, after)"
							   " SELECT $3, a.target, true, a.before, a.after FROM applied a"
							   " RETURNING target)"
							   " SELECT count(*), array_agg(target) FROM items");

		/*
		 * The targets the run did not change (engine.c gives only those):
		 * their items, with the first rule each fails.  The rows are
		 * locked by this transaction, so this statement's new snapshot sees
		 * their latest versions.  Those passing every rule here (changed by
		 * another transaction since the run's snapshot) are returned for
		 * engine.c to run again: BULK_FAIL_COL_*.
		 */
		initStringInfo(&failed);
		appendStringInfo(&failed,
						 PRM_CTE ","
						 " checked AS MATERIALIZED (%s),"
						 " items AS (INSERT INTO bulkorder.bulk_job_items"
						 " (job_id, target, ok, error_code, message, before)"
						 " SELECT $3, c.target, false, c.error_code, ",
						 check.data);
		bulk_append_item_message(&failed, codes, messages, nrules);
		appendStringInfoString(&failed,
							   ", c.before FROM checked c WHERE c.error_code IS NOT NULL RETURNING 1)"
							   " SELECT 0::bigint, (SELECT count(*) FROM items),"
							   " (SELECT array_agg(target) FROM checked WHERE error_code IS NULL)");
		fail = failed.data;
	}
	else
	{
		/* apply_sql: the declared change reads the eligible targets */
		appendStringInfo(&run,
						 PRM_CTE ","
						 " checked AS MATERIALIZED (%s),"
						 " eligible AS (SELECT target FROM checked WHERE error_code IS NULL), %s",
						 check.data, apply_sql);
		bulk_append_effects(&run, effects, neffects);
		appendStringInfoString(&run,
							   ", items AS (INSERT INTO bulkorder.bulk_job_items"
							   " (job_id, target, ok, error_code, message, before, after)"
							   " SELECT $3, c.target, c.error_code IS NULL, c.error_code, ");
		bulk_append_item_message(&run, codes, messages, nrules);
		/* BULK_RUN_COL_* */
		appendStringInfoString(&run,
							   ", c.before, a.after FROM checked c"
							   " LEFT JOIN applied a ON a.target = c.target"
							   " RETURNING ok, after IS NOT NULL AS done)"
							   BULK_SQL_RUN_RESULT);
	}

	bulk_set_statements(st, table, key, d->prelock_sql, d->lock_sql, preview.data, run.data, fail);
}

/*
 * Read the declaration of page/operation and compose its statements.  The
 * returned operation has no plans yet.
 */
BulkOperation *
bulk_compose_operation(const char *page, const char *operation, BulkStatements *st)
{
	BulkDeclaration d;
	BulkOperation *op;

	bulk_read_declaration(page, operation, &d);
	op = palloc0(sizeof(BulkOperation));
	op->page = pstrdup(page);
	op->operation = pstrdup(operation);
	op->page_name = d.page_name;
	op->op_name = d.op_name;
	op->param_spec = d.param_spec;
	op->nparam_checks = d.nchecks;
	op->param_check_sql = d.check_sql;
	op->param_check_sqlstate = d.check_sqlstate;
	op->param_check_message = d.check_message;
	op->param_check_hint = d.check_hint;
	compose_statements(&d, st);
	return op;
}
