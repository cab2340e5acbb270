/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Turn a catalogued operation into prepared, kept SPI plans.
 *
 * Each call reads the operation's declaration (one small query), composes
 * the statements' text, and reuses the kept plans when the text is the one
 * they were prepared from.  Comparing the text, not a version number, means
 * an ALTER EXTENSION UPDATE that changes a rule can never run a stale plan.
 *
 * define_operation compiles a new declaration through the same composition
 * (bulkorder_compile_operation), so a broken statement is rejected when it
 * is declared, with the statement's own error, not at its first job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/plancache.h"

#include "bulkorder.h"

/*
 * The kept plans are the job's shop's: the shop is a constant in them
 * (shop.c), so they are kept per shop.
 */
#define BULK_PLAN_KEY_SIZE (2 * NAMEDATALEN + 48)

typedef struct PlanCacheEntry
{
	char		key[BULK_PLAN_KEY_SIZE];	/* page/operation/language/shop */
	char	   *source;			/* all statements' text, in CacheMemoryContext */
	SPIPlanPtr	pre_lock_plan;
	SPIPlanPtr	lock_plan;
	SPIPlanPtr	extra_lock_plan;
	SPIPlanPtr	preview_plan;
	SPIPlanPtr	run_plan;
	SPIPlanPtr	fail_plan;
} PlanCacheEntry;

/* The statements composed from one declaration (NULL: none declared). */
typedef struct OperationStatements
{
	char	   *prelock;
	char	   *lock;
	char	   *extra_lock;
	char	   *preview;
	char	   *run;
	char	   *fail;			/* the run's failures, when it records only changes */
} OperationStatements;

static HTAB *plan_cache = NULL;

/* the shop the plans are for: the caller has confined the engine to it */
static int64
confined_shop(void)
{
	int64		shop = bulk_confined_shop();

	if (shop == 0)
		elog(ERROR, "bulkorder: an operation was looked up outside of a shop");
	return shop;
}

/* The parameters as p (NOT MATERIALIZED: see the preview in read_operation) */
#define PRM_CTE "WITH prm AS NOT MATERIALIZED (SELECT $2::jsonb AS p)"

static const char *revert_query;
static BulkOperation *compose_revert(const char *page, const char *operation, bool reapply,
									 OperationStatements *st);

PG_FUNCTION_INFO_V1(bulkorder_compile_operation);
PG_FUNCTION_INFO_V1(bulkorder_in_extension_script);
PG_FUNCTION_INFO_V1(bulkorder_page_list_hint);
PG_FUNCTION_INFO_V1(bulkorder_check_fragment);

static const char *catalog_query =
"SELECT pg.target_table, pg.key_column, pg.visible_condition,"
"       CASE WHEN $3 THEN pg.name_en ELSE pg.name_ja END,"
"       CASE WHEN $3 THEN o.name_en ELSE o.name_ja END,"
"       o.params, o.changed_columns, o.set_clause, o.apply_sql, o.before_sql,"
"       o.effects, o.lock_sql,"
"       coalesce(r.codes, '{}'), coalesce(r.conditions, '{}'), coalesce(r.messages, '{}'),"
"       coalesce(c.conditions, '{}'), coalesce(c.sqlstates, '{}'),"
"       coalesce(c.messages, '{}'), coalesce(c.hints, '{}'), o.prelock_sql,"
"       o.target_join->>'table', o.target_join->>'alias', o.target_join->>'key',"
"       coalesce(o.target_join->>'on', 'true')"
"  FROM bulkorder_catalog.operations o"
"  JOIN bulkorder_catalog.pages pg ON pg.page = o.page"
"  LEFT JOIN LATERAL ("
"       SELECT array_agg(error_code ORDER BY position) AS codes,"
"              array_agg(condition ORDER BY position) AS conditions,"
"              array_agg(CASE WHEN $3 THEN message_en ELSE message_ja END ORDER BY position) AS messages"
"         FROM bulkorder_catalog.operation_rules"
"        WHERE page = o.page AND operation = o.operation) r ON true"
"  LEFT JOIN LATERAL ("
"       SELECT array_agg(condition ORDER BY position) AS conditions,"
"              array_agg(sqlstate ORDER BY position) AS sqlstates,"
"              array_agg(message ORDER BY position) AS messages,"
"              array_agg(coalesce(hint, '') ORDER BY position) AS hints"
"         FROM bulkorder_catalog.operation_param_checks"
"        WHERE page = o.page AND operation = o.operation) c ON true"
" WHERE o.page = $1 AND o.operation = $2";

/* Column values of the catalogue row, as C strings (NULL for SQL NULL). */
static char *
col_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/* A text[] column as a palloc'd array of C strings. */
static char **
col_text_array(HeapTuple tup, TupleDesc desc, int col, int *n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	char	  **result;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	result = palloc0(sizeof(char *) * (*n + 1));
	for (int i = 0; i < *n; i++)
		result[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return result;
}

static void
ensure_plan_cache(void)
{
	HASHCTL		ctl;

	if (plan_cache)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(((PlanCacheEntry *) 0)->key);
	ctl.entrysize = sizeof(PlanCacheEntry);
	plan_cache = hash_create("bulkorder plan cache", 64, &ctl, HASH_ELEM | HASH_STRINGS);
}

/*
 * A composed statement must be one statement: SPI would run every statement
 * of the text, and those after the first outside the job's items and
 * counts.  define_operation refuses a piece that would split its statement
 * (check_fragment), naming it; this is the last guard, for a catalogue row
 * changed behind its back.  what names the statement.
 */
static void
check_one_statement(SPIPlanPtr plan, const char *what)
{
	int			n = list_length(SPI_plan_get_plan_sources(plan));

	if (n != 1)
	{
		SPI_freeplan(plan);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is %d statements, not one", what, n),
				 errdetail("A piece of the declaration ends the statement it is part of."),
				 errhint("Declare the operation again with bulkorder.define_operation, which names the piece.")));
	}
}

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes, const char *what)
{
	/*
	 * Always the generic plan: a custom plan would be planned with the
	 * chunk's key array as a constant, and estimating a million-element
	 * "= ANY" costs hundreds of megabytes and most of a second.  The keys
	 * are always probed through the key's index, whatever their number.
	 */
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "bulkorder: could not prepare statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	check_one_statement(plan, what);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "bulkorder: SPI_keepplan failed");
	return plan;
}

/*
 * The message of an item's error code, as an expression over c.error_code:
 * NULL at once for a target that passed (most of them), no join.
 */
static void
append_message(StringInfo buf, char **codes, char **messages, int nrules)
{
	appendStringInfo(buf, "CASE WHEN c.error_code IS NULL THEN NULL"
					 " WHEN c.error_code = 'not_found' THEN %s",
					 quote_literal_cstr(BULK_LANG_TEXT("対象が見つかりません(存在しないか削除済みです)",
													   "not found (unknown or deleted)")));
	for (int i = 0; i < nrules; i++)
		appendStringInfo(buf, " WHEN c.error_code = %s THEN %s",
						 quote_literal_cstr(codes[i]), quote_literal_cstr(messages[i]));
	appendStringInfoString(buf, " END");
}

/* jsonb_build_object('col', <alias>.col, ...) over the changed columns */
static void
append_image(StringInfo buf, const char *alias, char **cols, int ncols)
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
		append_image(buf, "t", cols, ncols);
}

/*
 * The pages of the catalogue, read from bulkorder_catalog.pages so that the
 * list is never out of date: "a, b and c" in English, "a、b、c" in Japanese.
 */
static char *
page_list(bool english)
{
	bulk_spi_exec(english ?
				  "SELECT regexp_replace(string_agg(page, ', ' ORDER BY page), ', ([^,]*)$', ' and \\1')"
				  " FROM bulkorder_catalog.pages" :
				  "SELECT string_agg(page, '、' ORDER BY page) FROM bulkorder_catalog.pages",
				  0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The English hint of an unknown page (define_operation's SQL reads it) */
char *
bulk_page_list_hint(void)
{
	return psprintf("The pages are %s.", page_list(true));
}

/*
 * Reject a call naming an unknown page (22023), listing the pages: the one
 * place for run_bulk, preview_bulk and the CSV uploads.
 */
void
bulk_unknown_page(const char *page)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown page \"%s\"", page),
			 bulk_errhint(BMSG_PAGE_UNKNOWN, page,
						  page_list(bulkorder_language == BULK_LANG_EN))));
}

/* bulkorder_catalog.page_list_hint(): the same hint, for define_operation */
Datum
bulkorder_page_list_hint(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *hint;

	SPI_connect();
	hint = bulk_page_list_hint();
	hint = MemoryContextStrdup(caller, hint);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(hint));
}

/*
 * The eligibility rules in their order, as WHEN branches of a CASE: the
 * first a target fails gives its error code (codes NULL: gives false).
 */
static void
append_rule_cases(StringInfo buf, char **codes, char **conditions, int nrules)
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
static void
append_target_join(StringInfo buf, char **join, const char *target)
{
	const char *alias;

	if (join[0] == NULL)
		return;
	alias = quote_identifier(join[1]);
	appendStringInfo(buf, " LEFT JOIN LATERAL (SELECT * FROM %s AS %s WHERE (%s) AND %s.%s = %s LIMIT 1) AS %s ON true",
					 join[0], alias, join[3], alias, quote_identifier(join[2]), target, alias);
}

/* The side effects, as CTEs effect_1, effect_2, ... of a run statement */
static void
append_effects(StringInfo buf, char **effects, int neffects)
{
	for (int i = 0; i < neffects; i++)
		appendStringInfo(buf, ", effect_%d AS (%s)", i + 1, effects[i]);
}

/*
 * The statements of a job: the page's rows locked in key order (two jobs
 * over the same keys can never deadlock), the declared locks of rows before
 * and beside them, the preview and the run.  Every lock statement only
 * counts what it locked, so locking a whole job's rows at once materializes
 * nothing.
 */
static void
set_statements(OperationStatements *st, const char *table, const char *key,
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

/*
 * Read the declaration of page/operation and compose its statements.  The
 * returned operation has no plans yet.
 */
static BulkOperation *
read_operation(const char *page, const char *operation, OperationStatements *st)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, BOOLOID};
	Datum		values[3];
	HeapTuple	tup;
	TupleDesc	desc;
	BulkOperation *op;
	const char *key;
	char	   *table,
			   *visible,
			   *set_clause,
			   *apply_sql,
			   *before_sql,
			   *lock_sql,
			   *prelock_sql;
	char	  **cols,
			  **effects,
			  **codes,
			  **conditions,
			  **messages;
	char	   *join[4];		/* target_join: table, alias, key, on */
	int			ncols,
				neffects,
				nrules,
				n;
	bool		isnull;
	StringInfoData check,
				preview,
				run,
				failed;
	char	   *fail;

	/* every job, preview and import starts here */
	bulk_check_installed_version();

	values[0] = CStringGetTextDatum(page);
	values[1] = CStringGetTextDatum(operation);
	values[2] = BoolGetDatum(bulkorder_language == BULK_LANG_EN);
	bulk_spi_exec(catalog_query, 3, argtypes, values, NULL, true, SPI_OK_SELECT);

	if (SPI_processed == 0)
	{
		bool		page_known;

		bulk_spi_exec("SELECT 1 FROM bulkorder_catalog.pages WHERE page = $1", 1, argtypes,
					  values, NULL, true, SPI_OK_SELECT);
		page_known = SPI_processed > 0;
		if (!page_known)
			bulk_unknown_page(page);
		bulk_spi_exec("SELECT string_agg(operation, ', ' ORDER BY operation) "
					  "FROM bulkorder_catalog.operations WHERE page = $1",
					  1, argtypes, values, NULL, true, SPI_OK_SELECT);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown operation \"%s\" for page \"%s\"", operation, page),
				 bulk_errhint(BMSG_OPERATION_UNKNOWN, page,
							  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							  operation)));
	}

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	op = palloc0(sizeof(BulkOperation));
	op->page = pstrdup(page);
	op->operation = pstrdup(operation);
	table = col_text(tup, desc, 1);
	key = quote_identifier(col_text(tup, desc, 2));
	visible = col_text(tup, desc, 3);
	op->page_name = col_text(tup, desc, 4);
	op->op_name = col_text(tup, desc, 5);
	op->param_spec = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 6, &isnull));
	cols = col_text_array(tup, desc, 7, &ncols);
	set_clause = col_text(tup, desc, 8);
	apply_sql = col_text(tup, desc, 9);
	before_sql = col_text(tup, desc, 10);
	effects = col_text_array(tup, desc, 11, &neffects);
	lock_sql = col_text(tup, desc, 12);
	codes = col_text_array(tup, desc, 13, &nrules);
	conditions = col_text_array(tup, desc, 14, &n);
	messages = col_text_array(tup, desc, 15, &n);
	op->param_check_sql = col_text_array(tup, desc, 16, &op->nparam_checks);
	op->param_check_sqlstate = col_text_array(tup, desc, 17, &n);
	op->param_check_message = col_text_array(tup, desc, 18, &n);
	op->param_check_hint = col_text_array(tup, desc, 19, &n);
	prelock_sql = col_text(tup, desc, 20);
	for (int i = 0; i < lengthof(join); i++)
		join[i] = col_text(tup, desc, 21 + i);

	/*
	 * The check: the first failing rule of each target, in declared order,
	 * and the before image of the fields the change touches.
	 */
	initStringInfo(&check);
	appendStringInfo(&check,
					 "SELECT i.target, CASE WHEN t.%s IS NULL THEN 'not_found'", key);
	append_rule_cases(&check, codes, conditions, nrules);
	appendStringInfo(&check, " END AS error_code, CASE WHEN t.%s IS NOT NULL THEN ", key);
	append_before(&check, before_sql, cols, ncols);
	appendStringInfo(&check,
					 " END AS before"
					 " FROM unnest($1::bigint[]) AS i(target) CROSS JOIN prm"
					 " LEFT JOIN %s AS t ON t.%s = i.target AND (%s)",
					 table, key, visible);
	append_target_join(&check, join, "i.target");

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
	append_message(&preview, codes, messages, nrules);
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
		append_target_join(&run, join, "bulkorder_old.old_key");
		appendStringInfo(&run,
						 " WHERE t.ctid = bulkorder_old.old_tid"
						 " AND CASE WHEN NOT coalesce((%s), false) THEN false",
						 visible);
		append_rule_cases(&run, NULL, conditions, nrules);
		appendStringInfo(&run, " ELSE true END RETURNING t.%s AS target,"
						 " bulkorder_old.old_image AS before, ", key);
		append_image(&run, "t", cols, ncols);

		/*
		 * old_tid: where the row's version before the change is.  The
		 * statement's snapshot still sees that version (its own changes are
		 * invisible to it), so an effect can read the row as it was with a
		 * Tid Scan (o.ctid = a.old_tid) instead of probing the key's index.
		 */
		appendStringInfoString(&run, " AS after, bulkorder_old.old_tid)");
		append_effects(&run, effects, neffects);
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
		 * engine.c to run again.
		 */
		initStringInfo(&failed);
		appendStringInfo(&failed,
						 PRM_CTE ","
						 " checked AS MATERIALIZED (%s),"
						 " items AS (INSERT INTO bulkorder.bulk_job_items"
						 " (job_id, target, ok, error_code, message, before)"
						 " SELECT $3, c.target, false, c.error_code, ",
						 check.data);
		append_message(&failed, codes, messages, nrules);
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
		append_effects(&run, effects, neffects);
		appendStringInfoString(&run,
							   ", items AS (INSERT INTO bulkorder.bulk_job_items"
							   " (job_id, target, ok, error_code, message, before, after)"
							   " SELECT $3, c.target, c.error_code IS NULL, c.error_code, ");
		append_message(&run, codes, messages, nrules);
		appendStringInfoString(&run,
							   ", c.before, a.after FROM checked c"
							   " LEFT JOIN applied a ON a.target = c.target"
							   " RETURNING ok, after IS NOT NULL AS done)"
							   " SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok),"
							   " count(*) FILTER (WHERE ok AND NOT done) FROM items");
	}

	set_statements(st, table, key, prelock_sql, lock_sql, preview.data, run.data, fail);
	return op;
}

/* Free the kept plans of a cache entry (those prepared so far). */
static void
free_entry_plans(PlanCacheEntry *entry)
{
	SPIPlanPtr *plans[] = {&entry->pre_lock_plan, &entry->lock_plan, &entry->extra_lock_plan,
	&entry->preview_plan, &entry->run_plan, &entry->fail_plan};

	for (int i = 0; i < lengthof(plans); i++)
	{
		if (*plans[i])
			SPI_freeplan(*plans[i]);
		*plans[i] = NULL;
	}
}

/*
 * Give op the kept plans of statements st, under cache_key: prepared once
 * per backend, again only when the catalogue's text for them changed.
 */
static BulkOperation *
attach_kept_plans(BulkOperation *op, OperationStatements *st, const char *cache_key)
{
	StringInfoData source;
	PlanCacheEntry *entry;
	bool		found;

	initStringInfo(&source);
	appendStringInfo(&source, "%s\n%s\n%s\n%s\n%s\n%s", st->prelock ? st->prelock : "",
					 st->lock ? st->lock : "", st->extra_lock ? st->extra_lock : "", st->preview, st->run,
					 st->fail ? st->fail : "");

	ensure_plan_cache();
	entry = hash_search(plan_cache, cache_key, HASH_ENTER, &found);
	if (found && strcmp(entry->source, source.data) != 0)
	{
		/* the catalogue changed under us: forget the old plans */
		free_entry_plans(entry);
		pfree(entry->source);
		found = false;
	}
	if (!found)
	{
		Oid			types[3] = {INT8ARRAYOID, JSONBOID, INT8OID};
		char	   *what = psprintf("a statement of operation %s/%s composed from the catalogue",
									op->page, op->operation);

		/* leave the entry consistent if a prepare fails */
		entry->source = NULL;
		entry->pre_lock_plan = entry->lock_plan = entry->extra_lock_plan = NULL;
		entry->preview_plan = entry->run_plan = entry->fail_plan = NULL;
		PG_TRY();
		{
			if (st->prelock)
				entry->pre_lock_plan = prepare_kept(st->prelock, 2, types, what);
			if (st->lock)
				entry->lock_plan = prepare_kept(st->lock, 1, types, what);
			if (st->extra_lock)
				entry->extra_lock_plan = prepare_kept(st->extra_lock, 2, types, what);
			entry->preview_plan = prepare_kept(st->preview, 2, types, what);
			entry->run_plan = prepare_kept(st->run, 3, types, what);
			if (st->fail)
				entry->fail_plan = prepare_kept(st->fail, 3, types, what);
		}
		PG_CATCH();
		{
			/* the plans kept before the failing one live in CacheMemoryContext */
			free_entry_plans(entry);
			hash_search(plan_cache, cache_key, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
		entry->source = MemoryContextStrdup(CacheMemoryContext, source.data);
	}

	op->pre_lock_plan = entry->pre_lock_plan;
	op->lock_plan = entry->lock_plan;
	op->extra_lock_plan = entry->extra_lock_plan;
	op->preview_plan = entry->preview_plan;
	op->run_plan = entry->run_plan;
	op->fail_plan = entry->fail_plan;
	return op;
}

BulkOperation *
bulk_lookup_operation(const char *page, const char *operation)
{
	OperationStatements st;
	BulkOperation *op = read_operation(page, operation, &st);
	char		cache_key[BULK_PLAN_KEY_SIZE];

	snprintf(cache_key, sizeof(cache_key), "%s/%s/%d/%lld", page, operation, bulkorder_language,
			 (long long) confined_shop());
	return attach_kept_plans(op, &st, cache_key);
}

/* Names the statement being compiled in the error of a broken one. */
static void
compile_error_context(void *arg)
{
	errcontext("%s", (const char *) arg);
}

/*
 * Parse, analyse and plan one statement as the engine would (a generic
 * plan), then forget it.
 */
static void
compile_statement(const char *sql, int nargs, Oid *argtypes, const char *what)
{
	ErrorContextCallback callback;
	SPIPlanPtr	plan;
	CachedPlan *cplan;

	callback.callback = compile_error_context;
	callback.arg = (void *) what;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "bulkorder: could not prepare statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	check_one_statement(plan, what);
	/*
	 * On a Citus coordinator the statement runs on the shops' nodes, planned
	 * against their shards (citus.c): here, where no shard is, it is
	 * analysed only, and what it reads must be on every node.
	 */
	if (bulk_citus_distributed())
		bulk_citus_check_statement(plan, what);
	else
	{
		/* planned as a job's statement is: confined to a shop (shop.c) */
		bulk_arm_confinement();
		cplan = SPI_plan_get_cached_plan(plan);
		bulk_disarm_confinement();
		if (cplan)
			ReleaseCachedPlan(cplan, NULL);
	}
	SPI_freeplan(plan);

	error_context_stack = callback.previous;
}

/* A piece of a declaration being checked, for its error context. */
typedef struct FragmentCheck
{
	const char *opname;
	const char *piece;
	const char *query;			/* the piece in its context */
} FragmentCheck;

static void
fragment_error_callback(void *arg)
{
	FragmentCheck *check = (FragmentCheck *) arg;
	int			pos = geterrposition();

	/* a syntax error's position is in the piece's context, not the call */
	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(check->query);
	}
	errcontext("%s of operation %s", check->piece, check->opname);
}

/*
 * bulkorder_catalog.check_fragment(opname, piece, kind, fragment): refuse
 * (22023) a piece of a declaration that forms more than one statement where
 * the engine composes it.  The engine splices each piece into a statement
 * of its own making; a piece that ends that statement (a semicolon outside
 * its parentheses) would make SPI run further statements, outside the job's
 * items, counts and locks.  The piece is parsed, with PostgreSQL's raw
 * parser (no catalogue needed, so this holds while check_function_bodies is
 * off too), in the context its kind gives it:
 *	 expression  a condition or an image: SELECT (<piece>)
 *	 set_clause  UPDATE x SET <piece>
 *	 ctes        CTEs without WITH (apply_sql): WITH <piece> SELECT 1
 *	 cte         one CTE's body (an effect): WITH x AS (<piece>) SELECT 1
 *	 query       a lock statement: SELECT count(*) FROM (<piece>) AS locked
 *	 table       target_join's table: SELECT 1 FROM <piece> AS x
 * as catalog.c composes them, without line breaks around the piece (a piece
 * ending in a line comment breaks its statement there too).  A piece that
 * does not parse in its context raises its syntax error, naming the piece.
 */
Datum
bulkorder_check_fragment(PG_FUNCTION_ARGS)
{
	FragmentCheck check;
	const char *kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *fragment = text_to_cstring(PG_GETARG_TEXT_PP(3));
	const char *format;
	ErrorContextCallback callback;
	List	   *statements;

	check.opname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check.piece = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(kind, "expression") == 0)
		format = "SELECT (%s)";
	else if (strcmp(kind, "set_clause") == 0)
		format = "UPDATE bulkorder_fragment AS t SET %s";
	else if (strcmp(kind, "ctes") == 0)
		format = "WITH %s SELECT 1";
	else if (strcmp(kind, "cte") == 0)
		format = "WITH bulkorder_fragment AS (%s) SELECT 1";
	else if (strcmp(kind, "query") == 0)
		format = "SELECT count(*) FROM (%s) AS locked";
	else if (strcmp(kind, "table") == 0)
		format = "SELECT 1 FROM %s AS bulkorder_fragment";
	else
		elog(ERROR, "bulkorder: unknown kind of fragment \"%s\"", kind);
	check.query = psprintf(format, fragment);

	callback.callback = fragment_error_callback;
	callback.arg = &check;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	statements = raw_parser(check.query, RAW_PARSE_DEFAULT);
	error_context_stack = callback.previous;

	if (list_length(statements) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: %s forms more than one statement", check.opname, check.piece),
				 errdetail("Where the engine puts it, it makes %d statements: the engine would run those after the first outside the job's items.",
						   list_length(statements)),
				 errhint("A piece is part of one statement the engine composes: end nothing with a semicolon, and write further changes as CTEs of apply_sql or as effects.")));
	PG_RETURN_VOID();
}

/*
 * Compile the statements of the operation's revert, both directions (the
 * undo, which withdraws the job's outbox rows, and the revert of a revert,
 * which applies the operation again with its effects), when revert_job would
 * build them: a reversible operation whose change is its own fields
 * (set_clause) or that declares its revert apply_sql.
 */
static void
compile_revert(const char *page, const char *operation, const char *opname)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, BOOLOID};
	Datum		values[3];
	Oid			types[3] = {INT8ARRAYOID, JSONBOID, INT8OID};
	bool		isnull;
	bool		reversible,
				own_fields,
				has_apply;

	values[0] = CStringGetTextDatum(page);
	values[1] = CStringGetTextDatum(operation);
	values[2] = BoolGetDatum(bulkorder_language == BULK_LANG_EN);
	bulk_spi_exec(revert_query, 3, argtypes, values, NULL, true, SPI_OK_SELECT);
	reversible = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	own_fields = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	has_apply = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6) != NULL;
	if (!reversible || !(own_fields || has_apply))
		return;

	for (int reapply = 0; reapply <= 1; reapply++)
	{
		OperationStatements st;
		const char *which = reapply ? "the revert of a revert" : "the revert";

		compose_revert(page, operation, reapply, &st);
		if (st.prelock)
			compile_statement(st.prelock, 2, types,
							  psprintf("the prelock statement (revert prelock_sql) of %s of operation %s",
									   which, opname));
		compile_statement(st.lock, 1, types,
						  psprintf("the lock statement of %s of operation %s", which, opname));
		if (st.extra_lock)
			compile_statement(st.extra_lock, 2, types,
							  psprintf("the lock statement (revert lock_sql) of %s of operation %s",
									   which, opname));
		compile_statement(st.preview, 2, types,
						  psprintf("the check statement (revert condition, rules, before_sql, visible_condition) of %s of operation %s",
								   which, opname));
		compile_statement(st.run, 3, types,
						  psprintf("the change statement (revert apply_sql) of %s of operation %s",
								   which, opname));
	}
}

/*
 * bulkorder_catalog.compile_operation(page, operation): compile every
 * statement the engine would build for the declaration as it is now in the
 * catalogue (lock statements, check/preview, run, whole-call checks).  A
 * broken fragment raises the statement's own error, naming the statement.
 */
Datum
bulkorder_compile_operation(PG_FUNCTION_ARGS)
{
	char	   *page = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *operation = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			types[3] = {INT8ARRAYOID, JSONBOID, INT8OID};
	Oid			check_types[1] = {JSONBOID};
	OperationStatements st;
	BulkOperation *op;
	char	   *opname = psprintf("%s/%s", page, operation);
	/* compiled as for a job of shop 1: the catalogue is every shop's */
	int64		previous = bulk_confine(1);

	SPI_connect();
	op = read_operation(page, operation, &st);
	if (st.prelock)
		compile_statement(st.prelock, 2, types,
						  psprintf("the prelock statement of operation %s", opname));
	if (st.lock)
		compile_statement(st.lock, 1, types,
						  psprintf("the lock statement of operation %s", opname));
	if (st.extra_lock)
		compile_statement(st.extra_lock, 2, types,
						  psprintf("the lock statement (lock_sql) of operation %s", opname));
	compile_statement(st.preview, 2, types,
					  psprintf("the check statement (rules, before image) of operation %s", opname));
	compile_statement(st.run, 3, types,
					  psprintf("the change statement (set_clause or apply_sql, effects) of operation %s", opname));
	if (st.fail)
		compile_statement(st.fail, 3, types,
						  psprintf("the statement recording the failures (rules, before image) of operation %s", opname));
	/* as params.c runs them */
	for (int i = 0; i < op->nparam_checks; i++)
		compile_statement(psprintf("SELECT coalesce((%s), false) FROM (SELECT $1::jsonb AS p) AS prm",
								   op->param_check_sql[i]),
						  1, check_types,
						  psprintf("whole-call check %d of operation %s", i + 1, opname));
	compile_revert(page, operation, opname);
	SPI_finish();
	bulk_confine(previous);
	PG_RETURN_VOID();
}

/*
 * bulkorder_catalog.in_extension_script(): true while CREATE EXTENSION
 * bulkorder or ALTER EXTENSION bulkorder UPDATE runs its script, i.e. when
 * define_operation declares a shipped operation.
 */
Datum
bulkorder_in_extension_script(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(creating_extension &&
				   CurrentExtensionObject == get_extension_oid("bulkorder", true));
}

/* ----------------------------------------------------------------
 * Reverts (SPEC §7 "Undoing a job")
 *
 * A revert is a job of the original job's page with operation 'revert' and
 * params {"job_id": J, "operation": X, "reapply": bool, "params": X's
 * params}.  Its statements are composed here from X's declaration: they
 * read the items of job J for each target's before/after images, so that
 * the one engine locks, checks, changes, records, chunks and resumes a
 * revert like any other job.  reapply is false when J applied X (the revert
 * withdraws J's outbox rows) and true when J was itself a revert of X (the
 * revert applies X again, with X's side effects, where X's eligibility rules
 * accept the target today).
 * ----------------------------------------------------------------
 */
static const char *revert_query =
"SELECT o.reversible, o.irreversible_reason, o.set_clause IS NOT NULL,"
"       o.revert_condition, o.revert_before_sql, o.revert_apply_sql,"
"       o.revert_prelock_sql, o.revert_lock_sql,"
"       coalesce((SELECT array_agg(r->>'code' ORDER BY n) FROM jsonb_array_elements(o.revert_rules) WITH ORDINALITY AS x(r, n)), '{}'),"
"       coalesce((SELECT array_agg(r->>'condition' ORDER BY n) FROM jsonb_array_elements(o.revert_rules) WITH ORDINALITY AS x(r, n)), '{}'),"
"       coalesce((SELECT array_agg(CASE WHEN $3 THEN r->>'message_en' ELSE r->>'message_ja' END ORDER BY n)"
"                 FROM jsonb_array_elements(o.revert_rules) WITH ORDINALITY AS x(r, n)), '{}'),"
"       o.revert_visible_condition"
"  FROM bulkorder_catalog.operations o WHERE o.page = $1 AND o.operation = $2";

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
					 quote_literal_cstr(BULK_LANG_TEXT("対象が見つかりません(存在しないか削除済みです)",
													   "not found (unknown or deleted)")),
					 quote_literal_cstr(BULK_LANG_TEXT("決済リクエストまたはメールがすでに処理・送信されているため取り消せません",
													   "a payment request or mail of this target has already been taken or answered")),
					 quote_literal_cstr(BULK_LANG_TEXT("一括更新の後に変更されているため取り消せません",
													   "changed since the job")));
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

static bool
revert_param_bool(Jsonb *params, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(&params->root, key, strlen(key), &buf);

	return v != NULL && v->type == jbvBool && v->val.boolean;
}

static char *
revert_param_text(Jsonb *params, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(&params->root, key, strlen(key), &buf);

	if (v == NULL)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

/*
 * Refuse a revert of an operation that cannot be reverted (0A000, with the
 * catalogue's reason), or whose change the catalogue cannot undo.
 */
void
bulk_check_reversible(const char *page, const char *operation)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, BOOLOID};
	Datum		values[3];
	bool		isnull;

	values[0] = CStringGetTextDatum(page);
	values[1] = CStringGetTextDatum(operation);
	values[2] = BoolGetDatum(bulkorder_language == BULK_LANG_EN);
	bulk_spi_exec(revert_query, 3, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("operation \"%s\" of page \"%s\" is no longer in the catalogue", operation, page),
				 errdetail("A job of an operation that is not declared cannot be reverted.")));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		char	   *reason = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("operation \"%s\" of page \"%s\" cannot be reverted", operation, page),
				 reason ? errdetail("%s", reason) : 0));
	}
	/* an apply_sql operation needs its own revert statement */
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)) &&
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("operation \"%s\" of page \"%s\" declares no revert", operation, page),
				 errdetail("Its change is not confined to the target's own fields, and the catalogue has no revert_apply_sql for it.")));
}

/*
 * Compose the statements of the revert of page/operation from its
 * declaration (reapply: the revert of a revert, which applies the operation
 * again).  The returned operation has no plans and no reverts yet.
 * Composing checks nothing: bulk_check_reversible says whether a job may
 * run these statements; define_operation compiles them (compile_revert).
 */
static BulkOperation *
compose_revert(const char *page, const char *operation, bool reapply, OperationStatements *st)
{
	OperationStatements orig_st;
	BulkOperation *orig;
	BulkOperation *op;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, BOOLOID};
	Datum		values[3];
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *table,
			   *key,
			   *visible,
			   *condition,
			   *before_sql,
			   *apply_sql,
			   *prelock_sql,
			   *lock_sql,
			   *revert_visible;
	char	  **cols,
			  **effects,
			  **codes,
			  **conditions,
			  **messages,
			  **op_codes = NULL,
			  **op_conditions = NULL,
			  **op_messages = NULL;
	char	   *join[4];		/* the operation's target_join */
	int			ncols,
				neffects,
				nrules,
				nop = 0,
				n;
	bool		withdraw,
				wreq = false,
				wmail = false;
	StringInfoData prefix,
				check,
				preview,
				run;

	/* the original operation: its names */
	orig = read_operation(page, operation, &orig_st);

	values[0] = CStringGetTextDatum(page);
	values[1] = CStringGetTextDatum(operation);
	values[2] = BoolGetDatum(bulkorder_language == BULK_LANG_EN);
	bulk_spi_exec(catalog_query, 3, argtypes, values, NULL, true, SPI_OK_SELECT);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	table = col_text(tup, desc, 1);
	key = (char *) quote_identifier(col_text(tup, desc, 2));
	visible = col_text(tup, desc, 3);
	cols = col_text_array(tup, desc, 7, &ncols);
	effects = col_text_array(tup, desc, 11, &neffects);
	if (reapply)
	{
		/* applied again only where the operation would accept the target */
		op_codes = col_text_array(tup, desc, 13, &nop);
		op_conditions = col_text_array(tup, desc, 14, &n);
		op_messages = col_text_array(tup, desc, 15, &n);
		for (int i = 0; i < lengthof(join); i++)
			join[i] = col_text(tup, desc, 21 + i);
	}

	bulk_spi_exec(revert_query, 3, argtypes, values, NULL, true, SPI_OK_SELECT);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	condition = col_text(tup, desc, 4);
	before_sql = col_text(tup, desc, 5);
	apply_sql = col_text(tup, desc, 6);
	prelock_sql = col_text(tup, desc, 7);
	lock_sql = col_text(tup, desc, 8);
	codes = col_text_array(tup, desc, 9, &nrules);
	conditions = col_text_array(tup, desc, 10, &n);
	messages = col_text_array(tup, desc, 11, &n);
	revert_visible = col_text(tup, desc, 12);

	op = palloc0(sizeof(BulkOperation));
	op->page = pstrdup(page);
	op->operation = "revert";
	op->page_name = orig->page_name;
	op->op_name = orig->op_name;
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
	 * estimates say).
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
							   " ORDER BY x.request_id FOR UPDATE SKIP LOCKED) AS r)");
	if (wmail)
		appendStringInfoString(&prefix,
							   ", held_mails AS MATERIALIZED (SELECT m.mail_id, m.order_no"
							   " FROM unnest($1::bigint[]) AS k(target) CROSS JOIN LATERAL"
							   " (SELECT x.mail_id, x.order_no FROM bulkorder.mail_outbox x"
							   " WHERE x.job_id = ($2::jsonb->>'job_id')::bigint AND x.order_no = k.target"
							   " AND x.sent_at IS NULL AND x.withdrawn_at IS NULL"
							   " ORDER BY x.mail_id FOR UPDATE SKIP LOCKED) AS m)");

	/* the check: not_found, side_effect_done, changed_since, then the rules */
	initStringInfo(&check);
	appendStringInfo(&check,
					 "SELECT i.target, CASE WHEN t.%s IS NULL OR s.target IS NULL THEN 'not_found'", key);
	if (wreq)
		appendStringInfoString(&check,
							   " WHEN EXISTS (SELECT 1 FROM bulkorder.payment_requests r"
							   " WHERE r.job_id = ($2::jsonb->>'job_id')::bigint AND r.order_no = i.target"
							   " AND r.status <> 'withdrawn'"
							   " AND r.request_id NOT IN (SELECT h.request_id FROM held_requests h))"
							   " THEN 'side_effect_done'");
	if (wmail)
		appendStringInfoString(&check,
							   " WHEN EXISTS (SELECT 1 FROM bulkorder.mail_outbox m"
							   " WHERE m.job_id = ($2::jsonb->>'job_id')::bigint AND m.order_no = i.target"
							   " AND m.withdrawn_at IS NULL"
							   " AND m.mail_id NOT IN (SELECT h.mail_id FROM held_mails h))"
							   " THEN 'side_effect_done'");
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
	append_rule_cases(&check, codes, conditions, nrules);
	appendStringInfo(&check, " END AS error_code, CASE WHEN t.%s IS NOT NULL AND s.target IS NOT NULL THEN ",
					 key);
	if (before_sql)
		appendStringInfo(&check, "(%s)", before_sql);
	else
		append_image(&check, "t", cols, ncols);
	/*
	 * The rows the revert sees: the undo, those its declaration says (the
	 * undo of 削除 sees deleted orders); applying the operation again, those
	 * the operation sees.
	 */
	appendStringInfo(&check,
					 " END AS before, s.before AS src_before, s.after AS src_after, t.ctid AS tid"
					 " FROM unnest($1::bigint[]) AS i(target) CROSS JOIN prm"
					 " LEFT JOIN bulkorder.bulk_job_items s ON s.job_id = ($2::jsonb->>'job_id')::bigint"
					 " AND s.target = i.target AND s.ok"
					 " LEFT JOIN %s AS t ON t.%s = i.target AND (%s)"
					 " LEFT JOIN LATERAL jsonb_populate_record(NULL::%s, s.after) AS a ON true",
					 table, key, (revert_visible && !reapply) ? revert_visible : visible, table);
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
		append_rule_cases(&check, op_codes, op_conditions, nop);
		appendStringInfo(&check, " END AS error_code FROM %s AS t", table);
		append_target_join(&check, join, "i.target");
		appendStringInfo(&check, " WHERE t.%s = i.target) AS orig ON true", key);
	}

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
		appendStringInfo(&run,
						 " FROM eligible s"
						 " CROSS JOIN LATERAL jsonb_populate_record(NULL::%s, s.before) AS b"
						 " WHERE t.ctid = s.tid AND t.%s = s.target RETURNING t.%s AS target, ",
						 table, key, key);
		append_image(&run, "t", cols, ncols);
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
		append_effects(&run, effects, neffects);
	appendStringInfoString(&run,
						   ", items AS (INSERT INTO bulkorder.bulk_job_items"
						   " (job_id, target, ok, error_code, message, before, after)"
						   " SELECT $3, c.target, c.error_code IS NULL, c.error_code, m.message,"
						   " c.before, a.after FROM checked c"
						   " LEFT JOIN applied a ON a.target = c.target LEFT JOIN ");
	append_revert_messages(&run, op_codes, op_messages, nop, codes, messages, nrules);
	appendStringInfoString(&run,
						   " ON m.code = c.error_code RETURNING ok, after IS NOT NULL AS done)"
						   " SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok),"
						   " count(*) FILTER (WHERE ok AND NOT done) FROM items");

	/* the page's rows in key order, as for any job of the page */
	set_statements(st, table, key, prelock_sql, lock_sql, preview.data, run.data, NULL);
	return op;
}

BulkOperation *
bulk_lookup_revert(const char *page, Jsonb *revert_params)
{
	char	   *operation = revert_param_text(revert_params, "operation");
	char	   *job_text = revert_param_text(revert_params, "job_id");
	bool		reapply = revert_param_bool(revert_params, "reapply");
	OperationStatements st;
	BulkOperation *op;
	char		cache_key[BULK_PLAN_KEY_SIZE];

	if (operation == NULL || job_text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed revert job parameters"),
				 errdetail("A revert's params name the job (job_id) and its operation.")));

	/* the original operation read (an unknown one refused) before its revert */
	op = compose_revert(page, operation, reapply, &st);
	bulk_check_reversible(page, operation);
	op->reverts = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(job_text)));

	snprintf(cache_key, sizeof(cache_key), "%s/~%s/%d/%d/%lld", page, operation, reapply,
			 bulkorder_language, (long long) confined_shop());
	return attach_kept_plans(op, &st, cache_key);
}

/*
 * The operation a job row runs: its catalogued operation, or for a revert
 * the revert of the operation its params name.  params NULL: read them
 * from the job row.
 */
BulkOperation *
bulk_lookup_job_operation(const char *page, const char *operation, Jsonb *params, int64 job_id)
{
	if (strcmp(operation, "revert") != 0)
		return bulk_lookup_operation(page, operation);
	if (params == NULL)
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(job_id)};
		bool		isnull;

		bulk_spi_exec("SELECT coalesce(effective_params, params) FROM bulkorder.bulk_jobs WHERE job_id = $1",
					  1, types, values, NULL, true, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "bulkorder: job %lld not found", (long long) job_id);
		params = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return bulk_lookup_revert(page, params);
}
